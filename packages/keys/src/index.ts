export type {
  CryptoProvider,
  CryptoProviderKind,
  GeneratedSigningKey,
  KeyWrapper,
  SignatureAlgorithm,
  SigningKeySpec,
} from './crypto-provider';
export { SEALED_STRING_PREFIX } from './envelope';
export { InvalidMasterKeyError, KeyProtectorError } from './errors';
export type { KeyProtectorErrorCode } from './errors';
export { createKeyProtector } from './key-protector';
export type { KeyCheckStatus, KeyProtector, KeyProtectorOptions } from './key-protector';
export { generateMasterKey, parseMasterKey, parsePreviousMasterKey } from './master-key';
export { SOFTWARE_SIGNING_KEY_AAD, createSoftwareProvider } from './software-provider';
export type { SoftwareProviderOptions } from './software-provider';
