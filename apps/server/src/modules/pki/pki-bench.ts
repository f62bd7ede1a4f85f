import { parseAndVerifyCsr, type DerOrPem } from '@ampora/pki';
import type { PkiService, SignedCertificate } from './pki-types.js';

/**
 * Hooks for `npm run bench`: the CSR path of enrollment without the protocol around it, so its
 * throughput can be measured against a real CA (the DESIGN budget is ≈ 2.9 ms per CSR on 2 vCPU).
 */

export interface CsrIssuance {
  tenantId: string;
  agentId: string;
  csr: DerOrPem;
}

/** Verifies a PKCS#10 request (signature and key policy), then issues the agent certificate. */
export async function verifyCsrAndIssue(
  pki: Pick<PkiService, 'signAgentCertificate'>,
  request: CsrIssuance,
): Promise<SignedCertificate> {
  const csr = parseAndVerifyCsr(request.csr);
  return pki.signAgentCertificate({
    tenantId: request.tenantId,
    agentId: request.agentId,
    publicKeySpkiDer: csr.publicKeySpkiDer,
    commonName: csr.instanceUid ?? request.agentId,
  });
}

export interface IssuanceMeasurement {
  count: number;
  seconds: number;
  perSecond: number;
}

/**
 * Runs {@link verifyCsrAndIssue} over `requests` with `concurrency` in flight and reports the rate.
 * Recording is left out on purpose: it is a database write measured by the enrollment benchmark.
 */
export async function measureCsrIssuance(
  pki: Pick<PkiService, 'signAgentCertificate'>,
  requests: readonly CsrIssuance[],
  options: { concurrency?: number; now?: () => number } = {},
): Promise<IssuanceMeasurement> {
  const now = options.now ?? (() => performance.now());
  const concurrency = Math.max(1, options.concurrency ?? 1);
  let next = 0;
  const started = now();
  const worker = async () => {
    while (next < requests.length) await verifyCsrAndIssue(pki, requests[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
  const seconds = (now() - started) / 1000;
  return { count: requests.length, seconds, perSecond: seconds > 0 ? requests.length / seconds : 0 };
}
