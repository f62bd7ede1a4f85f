import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importExternalCa } from './import.js';
import { issueLeaf } from './leaf.js';
import { buildCrl, crlPem } from './crl.js';
import { pemEncode } from './encoding.js';
import { PkiError } from './errors.js';
import { keyObjectSigner } from './signer.js';
import { DAY, HOUR, ecKey, spki } from './testing/fixtures.js';
import { workdir, type Workdir } from './testing/openssl.js';

let w: Workdir;
const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';

function run(...args: string[]): void {
  const result = w.openssl(...args);
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}\n${result.output}`);
}

/** A root and an intermediate made by openssl, for each key type. */
function makeOpensslCa(name: string, newkey: string[]): void {
  run(
    'req',
    '-x509',
    ...newkey,
    '-nodes',
    '-keyout',
    `${name}-root.key`,
    '-subj',
    `/CN=${name} Root`,
    '-days',
    '30',
    '-out',
    `${name}-root.pem`,
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  run(
    'req',
    '-new',
    ...newkey,
    '-nodes',
    '-keyout',
    `${name}-inter.key`,
    '-subj',
    `/CN=${name} Intermediate`,
    '-out',
    `${name}-inter.csr`,
  );
  w.write('ca.ext', CA_EXT);
  run(
    'x509',
    '-req',
    '-in',
    `${name}-inter.csr`,
    '-CA',
    `${name}-root.pem`,
    '-CAkey',
    `${name}-root.key`,
    '-set_serial',
    '1000',
    '-days',
    '20',
    '-extfile',
    'ca.ext',
    '-out',
    `${name}-inter.pem`,
  );
}

const read = (name: string) => readFileSync(w.path(name), 'utf8');

beforeAll(() => {
  w = workdir();
  makeOpensslCa('ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
  makeOpensslCa('rsa', ['-newkey', 'rsa:3072']);
  run(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'leafonly.key',
    '-subj',
    '/CN=not a ca',
    '-days',
    '30',
    '-out',
    'leafonly.pem',
    '-addext',
    'basicConstraints=critical,CA:FALSE',
  );
});
afterAll(() => w.remove());

function expectPkiError(fn: () => unknown, code: string) {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(PkiError);
  expect((caught as PkiError).code).toBe(code);
}

describe.each(['ec', 'rsa'])('importing an openssl-made %s intermediate CA', (name) => {
  it('orders the chain from PEM given in any order, and the key signs leaves openssl verifies', async () => {
    const imported = importExternalCa(
      { certPem: read(`${name}-root.pem`) + read(`${name}-inter.pem`), keyPem: read(`${name}-inter.key`) },
      { now: new Date() },
    );
    expect(imported.chain).toHaveLength(2);
    expect(imported.keyAlgorithm).toEqual(
      name === 'ec' ? { type: 'ec', curve: 'P-384' } : { type: 'rsa', bits: 3072 },
    );
    const interPem = pemEncode(imported.chain[0]!, 'CERTIFICATE');
    expect(interPem.replace(/\s/g, '')).toBe(read(`${name}-inter.pem`).replace(/\s/g, ''));

    const signer = keyObjectSigner(imported.privateKey);
    const now = Date.now();
    const leaf = await issueLeaf({
      issuer: { cert: imported.chain[0]!, signer },
      subjectPublicKeySpkiDer: spki(ecKey()),
      subject: 'CN=agent via imported CA',
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + DAY),
      serial: 5n,
      eku: ['clientAuth'],
    });
    w.write(`${name}-imported-leaf.pem`, pemEncode(leaf, 'CERTIFICATE'));
    const verify = w.openssl(
      'verify',
      '-CAfile',
      `${name}-root.pem`,
      '-untrusted',
      `${name}-inter.pem`,
      `${name}-imported-leaf.pem`,
    );
    expect(verify.output).toContain(`${name}-imported-leaf.pem: OK`);

    const crl = await buildCrl({
      issuer: { cert: imported.chain[0]!, signer },
      thisUpdate: new Date(now),
      nextUpdate: new Date(now + HOUR),
      crlNumber: 1n,
      revoked: [{ serial: 5n, revokedAt: new Date(now) }],
    });
    w.write(`${name}-imported.crl`, crlPem(crl));
    expect(
      w.openssl('crl', '-in', `${name}-imported.crl`, '-CAfile', `${name}-inter.pem`, '-noout').output,
    ).toContain('verify OK');
  });

  it.each([
    ['OpenSSL 3 defaults (PBES2/AES-256, SHA-256 MAC)', []],
    ['legacy RC2/3DES', ['-legacy']],
    ['3DES with a SHA-1 MAC', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']],
  ])('reads PKCS#12 made with %s', (_label, flags) => {
    const file = `${name}-${flags.length}.p12`;
    run(
      'pkcs12',
      '-export',
      ...flags,
      '-in',
      `${name}-inter.pem`,
      '-inkey',
      `${name}-inter.key`,
      '-certfile',
      `${name}-root.pem`,
      '-passout',
      'pass:s3cret',
      '-out',
      file,
    );
    const pkcs12 = readFileSync(w.path(file));
    const imported = importExternalCa({ pkcs12, password: 's3cret' });
    expect(imported.chain).toHaveLength(2);
    expect(pemEncode(imported.chain[1]!, 'CERTIFICATE').replace(/\s/g, '')).toBe(
      read(`${name}-root.pem`).replace(/\s/g, ''),
    );
    expect(imported.privateKey.asymmetricKeyType).toBe(name);
    expectPkiError(() => importExternalCa({ pkcs12, password: 'wrong' }), 'bad_password');
  });
});

describe('import refusals', () => {
  it('refuses a key that matches none of the certificates', () => {
    expectPkiError(
      () => importExternalCa({ certPem: read('ec-inter.pem'), keyPem: read('rsa-inter.key') }),
      'key_mismatch',
    );
  });

  it('refuses a certificate that is not a CA', () => {
    expectPkiError(
      () => importExternalCa({ certPem: read('leafonly.pem'), keyPem: read('leafonly.key') }),
      'not_a_ca',
    );
  });

  it('refuses certificates that are not part of the chain', () => {
    expectPkiError(
      () =>
        importExternalCa({
          certPem: read('ec-inter.pem') + read('rsa-root.pem'),
          keyPem: read('ec-inter.key'),
        }),
      'invalid_chain',
    );
  });

  it('refuses an expired CA when given the time', () => {
    expectPkiError(
      () =>
        importExternalCa(
          { certPem: read('ec-root.pem'), keyPem: read('ec-root.key') },
          { now: new Date(Date.now() + 365 * DAY) },
        ),
      'invalid_argument',
    );
  });

  it('refuses input that is not PKCS#12 or PEM', () => {
    expectPkiError(() => importExternalCa({ pkcs12: Buffer.from('nope'), password: 'x' }), 'malformed');
    expectPkiError(() => importExternalCa({ certPem: read('ec-root.pem'), keyPem: 'nope' }), 'malformed');
  });

  it('opens an encrypted PEM key only with its passphrase', () => {
    run('pkey', '-in', 'ec-root.key', '-aes256', '-passout', 'pass:pw', '-out', 'ec-root-enc.key');
    const input = { certPem: read('ec-root.pem'), keyPem: read('ec-root-enc.key') };
    expect(importExternalCa({ ...input, keyPassphrase: 'pw' }).chain).toHaveLength(1);
    expectPkiError(() => importExternalCa({ ...input, keyPassphrase: 'bad' }), 'bad_password');
  });
});
