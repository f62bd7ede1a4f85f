import { CRLReasons } from '@peculiar/asn1-x509';

/** RFC 5280 CRLReason names; `removeFromCRL` only makes sense in delta CRLs and is not offered. */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn'
  | 'aACompromise';

export const REVOCATION_REASONS: readonly RevocationReason[] = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
];

export function reasonCode(reason: RevocationReason): CRLReasons {
  const code = CRLReasons[reason];
  if (code === undefined || !REVOCATION_REASONS.includes(reason))
    throw new RangeError(`unknown reason ${reason}`);
  return code;
}
