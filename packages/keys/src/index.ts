export type {
  CryptoProvider,
  CryptoProviderKind,
  GeneratedSigningKey,
  KeyWrapper,
  SignatureAlgorithm,
  SigningKeySpec,
} from './crypto-provider';
export { SEALED_STRING_PREFIX } from './envelope';
export { CryptoProviderError, InvalidMasterKeyError, KeyProtectorError } from './errors';
export type { CryptoProviderErrorCode, KeyProtectorErrorCode } from './errors';
export { createKeyProtector } from './key-protector';
export type { KeyCheckStatus, KeyProtector, KeyProtectorOptions } from './key-protector';
export {
  MASTER_KEY_BYTES,
  MASTER_KEY_SETTING,
  PREVIOUS_MASTER_KEY_SETTING,
  generateMasterKey,
  parseMasterKey,
  parsePreviousMasterKey,
} from './master-key';
export { SOFTWARE_SIGNING_KEY_AAD, createSoftwareProvider } from './software-provider';
export type { SoftwareProviderOptions } from './software-provider';
