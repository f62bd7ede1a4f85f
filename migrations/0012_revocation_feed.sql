-- Every replica reads, every few seconds, the certificates revoked since its last read, so that a
-- revocation made on one replica closes the agent's live session on whichever replica holds it.
-- This index keeps that read to the newest revocations however many there are.
create index certificate_status_revoked_at_idx on certificate_status (revoked_at)
  where status = 'revoked';
