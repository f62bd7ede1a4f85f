import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workdir, type Workdir } from '../../packages/pki/src/testing/openssl.js';
import { eventually } from '../support/eventually.js';
import { fetchJson, jsonPost } from '../support/http.js';
import {
  API_RESOURCE,
  ScriptedBrowser,
  signIn,
  startServerWithIdp,
  type AuthServer,
} from '../support/oidc-provider.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

/**
 * The CA seen from outside: the real server process, its public endpoints, and the system
 * `openssl` CLI as the judge of what it publishes.
 */

const api = <T = any>(server: ServerProcess, path: string, init?: RequestInit) =>
  fetchJson<T>(server.httpUrl + path, init);

async function text(server: ServerProcess, path: string) {
  const res = await fetch(server.httpUrl + path);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

interface Issued {
  id: string;
  serialHex: string;
  fingerprint: string;
  certPem: string;
  chainPem: string;
  signingKeyId: string;
}

async function issueAgent(
  server: ServerProcess,
  agentId: string,
  tenantId?: string,
  headers: Record<string, string> = {},
): Promise<Issued> {
  const publicKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ format: 'pem', type: 'spki' })
    .toString();
  const res = await api<Issued>(
    server,
    '/api/_test/pki/agent-certificates',
    jsonPost({ agentId, publicKeyPem, ...(tenantId ? { tenantId } : {}) }, headers),
  );
  expect(res.status).toBe(201);
  return res.body;
}

/** Waits until the CA is set up (start-up finishes after /readyz first answers). */
function trustBundle(server: ServerProcess): Promise<string> {
  return eventually(async () => {
    const res = await text(server, '/pki/trust-bundle.pem');
    return res.status === 200 && res.body.includes('BEGIN CERTIFICATE') ? res.body : undefined;
  }, 30_000);
}

const certCount = (pem: string) => pem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;

function crlNumber(w: Workdir, crlPemFile: string): number {
  const out = w.openssl('crl', '-in', crlPemFile, '-noout', '-crlnumber').output;
  const match = /crlNumber=(?:0x)?([0-9A-Fa-f]+)/.exec(out);
  if (!match) throw new Error(`no CRL number in: ${out}`);
  return Number.parseInt(match[1]!, 16);
}

const START_ENV = {
  AMPORA_API_INSECURE_NO_AUTH: 'true',
  AMPORA_TEST_HOOKS_ENABLED: 'true',
};

describe('revocation through CRL and OCSP, judged by openssl', () => {
  let server: ServerProcess;
  let w: Workdir;

  beforeAll(async () => {
    server = await startServerProcess(START_ENV);
    w = workdir({ timeoutMs: 20_000 });
    w.write('bundle.pem', await trustBundle(server));
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
    w?.remove();
  });

  it('C-11: openssl verify with the CRL passes before, and fails after, a revocation', async () => {
    const agent = await issueAgent(server, 'agent-crl');
    w.write('agent-crl.pem', agent.certPem);
    const crl1 = await text(server, '/pki/crl.pem');
    expect(crl1.status).toBe(200);
    expect(crl1.headers.get('cache-control')).toBe('public, max-age=60');
    expect(crl1.body).toMatch(/^-----BEGIN X509 CRL-----/);
    w.write('crl1.pem', crl1.body);
    const ok = w.openssl(
      'verify',
      '-CAfile',
      'bundle.pem',
      '-crl_check',
      '-CRLfile',
      'crl1.pem',
      'agent-crl.pem',
    );
    expect(ok.output).toContain('agent-crl.pem: OK');
    expect(ok.status).toBe(0);

    const revoked = await api(
      server,
      `/api/pki/certificates/${agent.id}/revoke`,
      jsonPost({ reason: 'keyCompromise' }),
    );
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({
      id: agent.id,
      status: 'revoked',
      revocationReason: 'keyCompromise',
    });

    w.write('crl2.pem', (await text(server, '/pki/crl.pem')).body);
    const refused = w.openssl(
      'verify',
      '-CAfile',
      'bundle.pem',
      '-crl_check',
      '-CRLfile',
      'crl2.pem',
      'agent-crl.pem',
    );
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain('certificate revoked');
    expect(crlNumber(w, 'crl2.pem')).toBeGreaterThan(crlNumber(w, 'crl1.pem'));
    expect(w.openssl('crl', '-in', 'crl2.pem', '-noout', '-text').output).toContain('Key Compromise');

    // The DER form and the per-key URL named in the certificate serve the same list.
    const der = Buffer.from(await (await fetch(`${server.httpUrl}/pki/crl.der`)).arrayBuffer());
    const perKey = Buffer.from(
      await (await fetch(`${server.httpUrl}/pki/crl/${agent.signingKeyId}.der`)).arrayBuffer(),
    );
    expect(perKey.equals(der)).toBe(true);
    w.write('crl2.der', der);
    expect(crlNumber(w, 'crl2.der')).toBe(crlNumber(w, 'crl2.pem'));
    expect(w.openssl('x509', '-in', 'agent-crl.pem', '-noout', '-text').output).toContain(
      `/pki/crl/${agent.signingKeyId}.der`,
    );
  });

  it('C-11: openssl ocsp reports good, then revoked right after the revocation', async () => {
    const agent = await issueAgent(server, 'agent-ocsp');
    w.write('agent-ocsp.pem', agent.certPem);
    w.write('ca.pem', agent.chainPem);
    const ask = () =>
      w.openssl(
        'ocsp',
        '-issuer',
        'ca.pem',
        '-cert',
        'agent-ocsp.pem',
        '-CAfile',
        'bundle.pem',
        '-url',
        `${server.httpUrl}/pki/ocsp`,
        '-resp_text',
      );
    const before = ask();
    expect(before.output).toContain('Response verify OK');
    expect(before.output).toContain('agent-ocsp.pem: good');
    expect(before.output).toMatch(/Nonce/); // echoed nonce

    const res = await api(
      server,
      '/api/pki/certificates/revoke',
      jsonPost({ ids: [agent.id], reason: 'superseded' }),
    );
    expect(res.body).toEqual({ revoked: [agent.id], alreadyRevoked: [], notFound: [] });

    const after = ask();
    expect(after.output).toContain('Response verify OK');
    expect(after.output).toContain('agent-ocsp.pem: revoked');
    expect(after.output).toContain('Reason: superseded');

    const metrics = (await text(server, '/metrics')).body;
    expect(metrics).toMatch(/^ampora_pki_ocsp_responses_total\{status="good"\} [1-9]/m);
    expect(metrics).toMatch(/^ampora_pki_ocsp_responses_total\{status="revoked"\} [1-9]/m);
  });

  it('answers the RFC 5019 GET form, and unknown for a certificate it never issued', async () => {
    const agent = await issueAgent(server, 'agent-get');
    w.write('agent-get.pem', agent.certPem);
    w.write('ca.pem', agent.chainPem);
    expect(
      w.openssl('ocsp', '-issuer', 'ca.pem', '-cert', 'agent-get.pem', '-no_nonce', '-reqout', 'req.der')
        .status,
    ).toBe(0);
    const encoded = encodeURIComponent(readFileSync(w.path('req.der')).toString('base64'));
    const res = await fetch(`${server.httpUrl}/pki/ocsp/${encoded}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/ocsp-response');
    w.write('resp.der', Buffer.from(await res.arrayBuffer()));
    const good = w.openssl(
      'ocsp',
      '-respin',
      'resp.der',
      '-issuer',
      'ca.pem',
      '-cert',
      'agent-get.pem',
      '-CAfile',
      'bundle.pem',
      '-no_nonce',
    );
    expect(good.output).toContain('Response verify OK');
    expect(good.output).toContain('agent-get.pem: good');

    // Same issuer, a serial this CA never issued.
    const unknown = w.openssl(
      'ocsp',
      '-issuer',
      'ca.pem',
      '-serial',
      '0x0123456789abcdef',
      '-CAfile',
      'bundle.pem',
      '-url',
      `${server.httpUrl}/pki/ocsp`,
    );
    expect(unknown.output).toContain('Response verify OK');
    expect(unknown.output).toMatch(/: unknown/);
  });

  it('answers a malformed OCSP request with malformedRequest, status 200', async () => {
    for (const body of [Buffer.from('definitely not DER'), Buffer.alloc(0)]) {
      const res = await fetch(`${server.httpUrl}/pki/ocsp`, {
        method: 'POST',
        headers: { 'content-type': 'application/ocsp-request' },
        body,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/ocsp-response');
      // OCSPResponse { responseStatus malformedRequest(1) }
      expect(Buffer.from(await res.arrayBuffer()).toString('hex')).toBe('30030a0101');
    }
    const viaGet = await fetch(`${server.httpUrl}/pki/ocsp/${encodeURIComponent('bm90IG9jc3A=')}`);
    expect(Buffer.from(await viaGet.arrayBuffer()).toString('hex')).toBe('30030a0101');
  });

  it('refuses an oversized OCSP body and an oversized bulk revocation', async () => {
    const big = await fetch(`${server.httpUrl}/pki/ocsp`, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
      body: Buffer.alloc(64 * 1024),
    });
    expect(big.status).toBe(413);
    const ids = Array.from(
      { length: 1001 },
      (_, i) => `01900000-0000-7000-8000-${String(i).padStart(12, '0')}`,
    );
    const tooMany = await api(server, '/api/pki/certificates/revoke', jsonPost({ ids }));
    expect(tooMany.status).toBe(400);
    expect(tooMany.headers.get('content-type')).toContain('application/problem+json');
  });

  it('C-11: revoking another tenant’s certificate answers 404 and changes nothing', async () => {
    const other = '01900000-0000-7000-8000-0000000000aa';
    await server.database.owner
      .insertInto('tenants')
      .values({ id: other, slug: 'other', name: 'Other' })
      .execute();
    const theirs = await issueAgent(server, 'their-agent', other);
    const res = await api(
      server,
      `/api/pki/certificates/${theirs.id}/revoke`,
      jsonPost({ reason: 'keyCompromise' }),
    );
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const status = await server.database.owner
      .selectFrom('certificate_status')
      .select('status')
      .where('fingerprint', '=', theirs.fingerprint)
      .executeTakeFirstOrThrow();
    expect(status.status).toBe('good');
    const listed = await api<{ items: Array<{ id: string }> }>(server, '/api/pki/certificates?limit=500');
    expect(listed.body.items.map((c) => c.id)).not.toContain(theirs.id);
  });
});

/**
 * Key changes need two people, so this part runs with a real identity provider: Ada (the first
 * user, signed in through the browser, with a PAT she issued) requests, Bob approves.
 */
describe('signing keys: rotation and import approved by a second Admin, retirement', () => {
  let env: AuthServer;
  let server: ServerProcess;
  let w: Workdir;
  const tokens: Record<'ada' | 'bob' | 'adaPat', string> = { ada: '', bob: '', adaPat: '' };

  beforeAll(async () => {
    env = await startServerWithIdp({ env: { AMPORA_TEST_HOOKS_ENABLED: 'true' } });
    server = env.server;
    env.idp.setAccount('ada', { name: 'Ada' });
    const browser = new ScriptedBrowser();
    const signed = await signIn(browser, server.httpUrl, 'ada');
    expect(signed.body.role).toBe('admin');
    const pat = await browser.request(`${server.httpUrl}/api/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': signed.csrf! },
      body: JSON.stringify({ name: 'ada-automation', role: 'admin' }),
    });
    expect(pat.status).toBe(201);
    tokens.adaPat = ((await pat.json()) as { token: string }).token;
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    for (const [sub, name] of [
      ['ada', 'Ada'],
      ['bob', 'Bob'],
    ] as const) {
      tokens[sub] = await env.idp.sign(
        { sub, name, 'ampora:role': 'admin' },
        { audience: API_RESOURCE, expiresAt },
      );
    }
    w = workdir({ timeoutMs: 20_000 });
    await trustBundle(server);
  }, 90_000);
  afterAll(async () => {
    await env?.close();
    w?.remove();
  });

  const as = (who: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[who]}` });
  const post = (who: keyof typeof tokens, body?: unknown): RequestInit =>
    body === undefined ? { method: 'POST', headers: as(who) } : jsonPost(body, as(who));
  const issue = (agentId: string) => issueAgent(server, agentId, undefined, as('ada'));

  interface Proposed {
    key: { id: string; state: string };
    approval: { id: string; status: string };
  }

  /** Bob approves what Ada asked for; the answer is the approved request. */
  async function approvedByBob(proposed: { status: number; body: Proposed }) {
    expect(proposed.status).toBe(202);
    expect(proposed.body).toMatchObject({ key: { state: 'draft' }, approval: { status: 'pending' } });
    const approved = await api(server, `/api/approvals/${proposed.body.approval.id}/approve`, post('bob'));
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', decidedBy: { id: 'bob' } });
  }

  const verify = async (certPem: string, keyId: string, bundle: string) => {
    w.write('leaf.pem', certPem);
    w.write('bundle.pem', bundle);
    w.write('crl.pem', (await text(server, `/pki/crl/${keyId}.pem`)).body);
    return w.openssl('verify', '-CAfile', 'bundle.pem', '-crl_check', '-CRLfile', 'crl.pem', 'leaf.pem');
  };

  it('rotation waits for a second Admin, keeps earlier certificates valid; retirement removes a key', async () => {
    const old = await issue('before-rotation');
    const rotated = await api<Proposed>(server, '/api/pki/signing-keys/rotate', post('ada', {}));
    expect(rotated.status).toBe(202);
    expect(rotated.body).toMatchObject({
      key: { state: 'draft', source: 'generated', keySpec: 'ecdsa-p256' },
      approval: { status: 'pending', kind: 'pki.signing-key.activate', requestedBy: { id: 'ada' } },
    });
    const newKeyId = rotated.body.key.id;

    // Until approved, the Draft is nowhere: not in the bundle, not signing.
    expect(certCount((await text(server, '/pki/trust-bundle.pem')).body)).toBe(1);
    expect((await issue('while-pending')).signingKeyId).toBe(old.signingKeyId);
    // Ada cannot approve her own request, neither herself nor through her PAT.
    for (const who of ['ada', 'adaPat'] as const) {
      const self = await api(server, `/api/approvals/${rotated.body.approval.id}/approve`, post(who));
      expect(self.status).toBe(403);
      expect(self.body.type).toMatch(/\/self-approval$/);
    }
    await approvedByBob(rotated);

    const bundle = (await text(server, '/pki/trust-bundle.pem')).body;
    expect(certCount(bundle)).toBe(2);
    expect((await verify(old.certPem, old.signingKeyId, bundle)).output).toContain('leaf.pem: OK');
    const fresh = await issue('after-rotation');
    expect(fresh.signingKeyId).toBe(newKeyId);
    expect((await verify(fresh.certPem, fresh.signingKeyId, bundle)).output).toContain('leaf.pem: OK');

    const keys = await api<{ items: Array<{ id: string; state: string }> }>(server, '/api/pki/signing-keys', {
      headers: as('bob'),
    });
    expect(keys.body.items.find((k) => k.id === old.signingKeyId)?.state).toBe('trusted');
    expect(keys.body.items.find((k) => k.id === newKeyId)?.state).toBe('active');

    const retired = await api(server, `/api/pki/signing-keys/${old.signingKeyId}/retire`, post('ada'));
    expect(retired.status).toBe(200);
    expect(retired.body).toMatchObject({ state: 'retired' });
    const after = (await text(server, '/pki/trust-bundle.pem')).body;
    expect(certCount(after)).toBe(1);
    const refused = await verify(old.certPem, old.signingKeyId, after);
    expect(refused.status).not.toBe(0);

    const active = await api(server, `/api/pki/signing-keys/${newKeyId}/retire`, post('ada'));
    expect(active.status).toBe(409);
  });

  it('imports an external CA made by openssl (PEM) and issues under it', async () => {
    expect(
      w.openssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'ext.key',
        '-out',
        'ext.pem',
        '-subj',
        '/CN=External Agent CA/O=Example',
        '-days',
        '30',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ).status,
    ).toBe(0);
    const certPem = readFileSync(w.path('ext.pem'), 'utf8');
    const keyPem = readFileSync(w.path('ext.key'), 'utf8');
    const imported = await api<Proposed>(
      server,
      '/api/pki/signing-keys/import',
      post('ada', { certPem, keyPem }),
    );
    expect(imported.body.key).toMatchObject({
      state: 'draft',
      source: 'imported',
      subject: 'CN=External Agent CA, O=Example',
    });
    await approvedByBob(imported);

    const agent = await issue('under-external');
    expect(agent.signingKeyId).toBe(imported.body.key.id);
    expect((await verify(agent.certPem, agent.signingKeyId, certPem)).output).toContain('leaf.pem: OK');
    w.write('ext-ca.pem', certPem);
    w.write('agent-ext.pem', agent.certPem);
    const ocsp = w.openssl(
      'ocsp',
      '-issuer',
      'ext-ca.pem',
      '-cert',
      'agent-ext.pem',
      '-CAfile',
      'ext-ca.pem',
      '-url',
      `${server.httpUrl}/pki/ocsp`,
    );
    expect(ocsp.output).toContain('Response verify OK');
    expect(ocsp.output).toContain('agent-ext.pem: good');
  });

  it('imports a PKCS#12 file, and refuses a wrong password or a key that does not match', async () => {
    w.openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:3072',
      '-nodes',
      '-keyout',
      'p12.key',
      '-out',
      'p12.pem',
      '-subj',
      '/CN=PKCS12 CA',
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    expect(
      w.openssl(
        'pkcs12',
        '-export',
        '-inkey',
        'p12.key',
        '-in',
        'p12.pem',
        '-passout',
        'pass:s3cret-p12',
        '-out',
        'ca.p12',
      ).status,
    ).toBe(0);
    const pkcs12 = readFileSync(w.path('ca.p12')).toString('base64');

    const wrong = await api(
      server,
      '/api/pki/signing-keys/import',
      post('ada', { pkcs12, password: 'nope' }),
    );
    expect(wrong.status).toBe(400);
    const mismatched = await api(
      server,
      '/api/pki/signing-keys/import',
      post('ada', {
        certPem: readFileSync(w.path('p12.pem'), 'utf8'),
        keyPem: readFileSync(w.path('ext.key'), 'utf8'),
      }),
    );
    expect(mismatched.status).toBe(400);

    const ok = await api<Proposed>(
      server,
      '/api/pki/signing-keys/import',
      post('adaPat', { pkcs12, password: 's3cret-p12' }),
    );
    expect(ok.body.key).toMatchObject({ state: 'draft', source: 'imported', keySpec: 'rsa-3072' });
    // Requested through Ada's PAT: still Ada's request, so still not hers to approve.
    const self = await api(server, `/api/approvals/${ok.body.approval.id}/approve`, post('ada'));
    expect(self.status).toBe(403);
    await approvedByBob(ok);
    const agent = await issue('under-p12');
    expect(
      (await verify(agent.certPem, agent.signingKeyId, readFileSync(w.path('p12.pem'), 'utf8'))).output,
    ).toContain('leaf.pem: OK');
  });

  it('leaves the shared CA to Admins of the installation tenant: another tenant’s Admin may read, not change', async () => {
    await server.database.owner
      .insertInto('tenants')
      .values({ id: '01a30000-0000-7000-8000-0000000000ee', slug: 'tenant-b', name: 'Tenant B' })
      .execute();
    const carol = await env.idp.sign(
      { sub: 'carol', name: 'Carol', 'ampora:role': 'admin', tenant: 'tenant-b' },
      { audience: API_RESOURCE, expiresAt: Math.floor(Date.now() / 1000) + 3600 },
    );
    const asCarol = { authorization: `Bearer ${carol}` };
    const keys = await api(server, '/api/pki/signing-keys', { headers: asCarol });
    expect(keys.status).toBe(200);
    const active = keys.body.items.find((k: { state: string }) => k.state === 'active');
    for (const [path, body] of [
      ['/api/pki/signing-keys/rotate', {}],
      [`/api/pki/signing-keys/${active.id}/retire`, undefined],
    ] as const) {
      const refused = await api(
        server,
        path,
        body === undefined ? { method: 'POST', headers: asCarol } : jsonPost(body, asCarol),
      );
      expect(refused.status).toBe(403);
      expect(refused.body.detail).toMatch(/installation's own tenant/);
    }
    const after = await api(server, '/api/pki/signing-keys', { headers: as('ada') });
    expect(after.body.items).toEqual(keys.body.items);
    const denied = await server.database.owner
      .selectFrom('audit_events')
      .select(['tenant_id', 'after'])
      .where('action', '=', 'auth.access.denied')
      .where('actor_id', '=', 'carol')
      .execute();
    expect(denied).toHaveLength(2);
    expect(denied.every((e) => e.tenant_id === '01a30000-0000-7000-8000-0000000000ee')).toBe(true);
    expect(denied.map((e) => (e.after as { reason: string }).reason)).toEqual([
      'installation',
      'installation',
    ]);
  });

  it('audits rotation, import, approvals, retirement and revocation, without any secret', async () => {
    const agent = await issue('audited');
    expect((await api(server, `/api/pki/certificates/${agent.id}/revoke`, post('ada', {}))).status).toBe(200);
    const events = await server.database.owner
      .selectFrom('audit_events')
      .select(['action', 'actor_kind', 'actor_id', 'outcome', 'before', 'after'])
      .execute();
    const actions = events.map((e) => e.action);
    for (const action of [
      'pki.signing-key.bootstrap',
      'pki.signing-key.rotate',
      'pki.signing-key.import',
      'approval.request.create',
      'approval.request.approve',
      'pki.signing-key.activate',
      'pki.signing-key.retire',
      'pki.certificate.revoke',
    ]) {
      expect(actions).toContain(action);
    }
    const approvals = events.filter((e) => e.action === 'approval.request.approve');
    expect(approvals.filter((e) => e.outcome === 'success').every((e) => e.actor_id === 'bob')).toBe(true);
    expect(
      approvals
        .filter((e) => e.outcome === 'denied')
        .map((e) => e.actor_kind)
        .sort(),
    ).toEqual(['pat', 'user', 'user']);
    const text = JSON.stringify(events);
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain('s3cret-p12');
    const keyRows = await server.database.owner.selectFrom('ca_signing_keys').select('key_ref').execute();
    for (const row of keyRows) expect(row.key_ref).toMatch(/^amp:v1:[A-Za-z0-9_-]+$/);
  });
});
