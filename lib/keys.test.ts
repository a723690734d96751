import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  type X509Certificate,
} from 'node:crypto';
import { chmodSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

import { calculateJwkThumbprint, type JWK } from 'jose';
import forge from 'node-forge';

import { createSelfSignedCertificate } from '../keys/certificate';
import { exportPkcs12 } from '../e2e/support/pkcs12';
import { ConfigError } from './errors';
import {
  createKeySetLoader,
  KEY_FILE_CHECK_INTERVAL_MS,
  loadClientKeySet,
  toPublicJwk,
  type ClientKeySet,
} from './keys';

const dir = mkdtempSync(join(tmpdir(), 'rp-keys-'));
let n = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `key-${n++}`);
  writeFileSync(path, content);
  return path;
}

const PASSPHRASE = 'correct horse battery staple';

/** openssl, when installed, makes PKCS#12 files the way integrators do; the tests use it if present. */
const openssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function opensslPkcs12(
  key: KeyObject,
  certificate: X509Certificate,
  legacy: boolean,
  ...extra: string[]
): string {
  const keyFile = file(key.export({ type: 'pkcs8', format: 'pem' }) as string);
  const certFile = file(certificate.toString());
  const out = join(dir, `openssl-${n++}.pfx`);
  execFileSync(
    'openssl',
    [
      'pkcs12',
      '-export',
      ...(legacy ? ['-legacy'] : []),
      ...extra,
      '-inkey',
      keyFile,
      '-in',
      certFile,
      '-passout',
      `pass:${PASSPHRASE}`,
      '-out',
      out,
    ],
    { stdio: 'pipe' },
  );
  return out;
}

type KeyCase = {
  name: string;
  key: KeyObject;
  pem: ReadonlyArray<'pkcs8' | 'pkcs1' | 'sec1'>;
  certificate: X509Certificate;
  expectedAlg: string;
};
let cases: KeyCase[];

before(async () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const ed = generateKeyPairSync('ed25519').privateKey;
  cases = [
    {
      name: 'RSA',
      key: rsa,
      pem: ['pkcs8', 'pkcs1'],
      certificate: await createSelfSignedCertificate(rsa),
      expectedAlg: 'RS256',
    },
    {
      name: 'EC P-256',
      key: ec,
      pem: ['pkcs8', 'sec1'],
      certificate: await createSelfSignedCertificate(ec),
      expectedAlg: 'ES256',
    },
    {
      name: 'Ed25519',
      key: ed,
      pem: ['pkcs8'],
      certificate: await createSelfSignedCertificate(ed),
      expectedAlg: 'EdDSA',
    },
  ];
});

/** Every format a key can come in, as files; `true` when the format carries the certificate. */
async function formatsOf(
  c: KeyCase,
): Promise<Array<{ format: string; path: string; withCertificate: boolean; passphrase?: string }>> {
  const out: Array<{
    format: string;
    path: string;
    withCertificate: boolean;
    passphrase?: string;
  }> = [];
  for (const type of c.pem)
    out.push({
      format: `PEM ${type}`,
      path: file(c.key.export({ type, format: 'pem' }) as string),
      withCertificate: false,
    });
  out.push({
    format: 'PEM encrypted PKCS#8',
    path: file(
      c.key.export({
        type: 'pkcs8',
        format: 'pem',
        cipher: 'aes-256-cbc',
        passphrase: PASSPHRASE,
      }) as string,
    ),
    withCertificate: false,
    passphrase: PASSPHRASE,
  });
  out.push({
    format: 'PEM key + certificate',
    path: file(
      `${c.key.export({ type: 'pkcs8', format: 'pem' }) as string}${c.certificate.toString()}`,
    ),
    withCertificate: true,
  });
  out.push({
    format: 'PEM with escaped newlines',
    path: file((c.key.export({ type: 'pkcs8', format: 'pem' }) as string).replace(/\n/g, '\\n')),
    withCertificate: false,
  });
  out.push({
    format: 'DER PKCS#8',
    path: file(c.key.export({ type: 'pkcs8', format: 'der' })),
    withCertificate: false,
  });
  const jwk = c.key.export({ format: 'jwk' });
  out.push({ format: 'JWK', path: file(JSON.stringify(jwk)), withCertificate: false });
  out.push({ format: 'JWKS', path: file(JSON.stringify({ keys: [jwk] })), withCertificate: false });
  out.push({
    format: 'JWK with x5c',
    path: file(JSON.stringify({ ...jwk, x5c: [c.certificate.raw.toString('base64')] })),
    withCertificate: true,
  });
  const modern = await exportPkcs12(c.key, [c.certificate], PASSPHRASE, 'modern');
  out.push({
    format: 'PKCS#12 AES-256/PBKDF2, SHA-256 MAC',
    path: file(modern),
    withCertificate: true,
    passphrase: PASSPHRASE,
  });
  out.push({
    format: 'PKCS#12 as one base64 line',
    path: file(modern.toString('base64')),
    withCertificate: true,
    passphrase: PASSPHRASE,
  });
  if (c.key.asymmetricKeyType === 'rsa') {
    out.push({
      format: 'PKCS#12 3DES, SHA-1 MAC',
      path: file(await exportPkcs12(c.key, [c.certificate], PASSPHRASE, 'legacy')),
      withCertificate: true,
      passphrase: PASSPHRASE,
    });
  }
  if (openssl && c.key.asymmetricKeyType !== 'ed25519') {
    out.push({
      format: 'PKCS#12 by openssl (defaults)',
      path: opensslPkcs12(c.key, c.certificate, false),
      withCertificate: true,
      passphrase: PASSPHRASE,
    });
    out.push({
      format: 'PKCS#12 by openssl -legacy (RC2/3DES)',
      path: opensslPkcs12(c.key, c.certificate, true),
      withCertificate: true,
      passphrase: PASSPHRASE,
    });
  }
  return out;
}

function keyMembers(jwk: JWK): JWK {
  const { x5c: _x5c, 'x5t#S256': _x5t, ...rest } = jwk as JWK & { 'x5t#S256'?: string };
  return rest;
}

function b64url(hexFingerprint: string): string {
  return Buffer.from(hexFingerprint.replace(/:/g, ''), 'hex').toString('base64url');
}

async function rejects(promise: Promise<unknown>, variable: string, pattern: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.problems[0]?.variable, variable);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('client keys: formats', () => {
  it('computes kid as the RFC 7638 thumbprint (RFC 7638 §3.1 example)', async () => {
    const rfcKey = createPublicKey({
      format: 'jwk',
      key: {
        kty: 'RSA',
        e: 'AQAB',
        n:
          '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhD' +
          'R1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6C' +
          'f0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1' +
          'n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1' +
          'jF44-csFCur-kEgU8awapJzKnqDKgw',
      },
    });
    const jwk = await toPublicJwk(rfcKey, 'RS256');
    assert.equal(jwk.kid, 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  for (const name of ['RSA', 'EC P-256', 'Ed25519']) {
    it(`loads an ${name} key from every format to the same public JWK and kid`, async () => {
      const c = cases.find((k) => k.name === name);
      assert.ok(c);
      const expectedKid = await calculateJwkThumbprint(
        createPublicKey(c.key).export({ format: 'jwk' }) as JWK,
        'sha256',
      );
      const formats = await formatsOf(c);
      for (const f of formats) {
        const set = await loadClientKeySet(f.path, { passphrase: f.passphrase });
        const jwk = set.signing.publicJwk;
        assert.equal(jwk.kid, expectedKid, f.format);
        assert.equal(set.signing.alg, c.expectedAlg, f.format);
        assert.equal(jwk.use, 'sig', f.format);
        assert.equal(jwk.d, undefined, `${f.format}: no private member is published`);
        assert.equal(set.signing.privateKey.extractable, false, f.format);
        assert.deepEqual(
          keyMembers(jwk),
          keyMembers((await loadClientKeySet(formats[0]?.path ?? '')).signing.publicJwk),
          f.format,
        );
        if (f.withCertificate) {
          assert.deepEqual(
            jwk.x5c,
            [c.certificate.raw.toString('base64')],
            `${f.format}: x5c is the certificate`,
          );
          assert.equal(
            set.signing.certificate?.x5tS256,
            b64url(c.certificate.fingerprint256),
            `${f.format}: x5t#S256`,
          );
          assert.equal(
            set.signing.certificate?.x5t,
            b64url(c.certificate.fingerprint),
            `${f.format}: x5t`,
          );
          assert.equal(
            (jwk as JWK & { 'x5t#S256'?: string })['x5t#S256'],
            b64url(c.certificate.fingerprint256),
          );
        } else {
          assert.equal(jwk.x5c, undefined, f.format);
          assert.equal(set.signing.certificate, undefined, f.format);
        }
      }
      assert.ok(formats.length >= 9, `${formats.length} formats checked`);
    });
  }

  it('publishes an RSA key with alg RS256 and an Ed25519 key without alg unless one is declared', async () => {
    const [rsa, , ed] = cases;
    assert.ok(rsa && ed);
    assert.equal(
      (await loadClientKeySet(file(rsa.key.export({ type: 'pkcs8', format: 'pem' }) as string)))
        .signing.publicJwk.alg,
      'RS256',
    );
    const undeclared = await loadClientKeySet(
      file(ed.key.export({ type: 'pkcs8', format: 'pem' }) as string),
    );
    assert.equal(undeclared.signing.publicJwk.alg, undefined);
    assert.equal(undeclared.signing.algDeclared, false);
    const declared = await loadClientKeySet(
      file(JSON.stringify({ ...ed.key.export({ format: 'jwk' }), alg: 'Ed25519' })),
    );
    assert.equal(declared.signing.publicJwk.alg, 'Ed25519');
    assert.equal(declared.signing.algDeclared, true);
    const forced = await loadClientKeySet(
      file(rsa.key.export({ type: 'pkcs8', format: 'pem' }) as string),
      { alg: 'PS256' },
    );
    assert.equal(forced.signing.publicJwk.alg, 'PS256');
  });

  it('keeps a kid and alg given in a JWK, and publishes every key of a JWKS with the first signing', async () => {
    const a = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'jwk',
    });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'jwk',
    });
    const set = await loadClientKeySet(
      file(
        JSON.stringify({
          keys: [
            { ...a, kid: 'key-a', alg: 'PS256' },
            { ...b, kid: 'key-b', rotation: { state: 'next', since: new Date().toISOString() } },
          ],
        }),
      ),
    );
    assert.equal(set.signing.kid, 'key-a');
    assert.equal(set.signing.alg, 'PS256');
    assert.deepEqual(
      set.published.map((k) => k.kid),
      ['key-a', 'key-b'],
    );
    assert.deepEqual(
      set.published.map((k) => k.alg),
      ['PS256', 'ES256'],
    );
    assert.equal(set.keys[1]?.status, 'next');
    assert.equal(
      JSON.stringify(set.published).includes('rotation'),
      false,
      'the rotation state is never published',
    );
  });

  it('adds the certificate of OIDC_CLIENT_CERT_FILE (PEM or DER) to the key it certifies', async () => {
    const [rsa] = cases;
    assert.ok(rsa);
    const keyFile = file(rsa.key.export({ type: 'pkcs1', format: 'pem' }) as string);
    for (const cert of [rsa.certificate.toString(), rsa.certificate.raw]) {
      const set = await loadClientKeySet(keyFile, { certFile: file(cert) });
      assert.equal(
        set.signing.certificate?.x5tS256,
        createHash('sha256').update(rsa.certificate.raw).digest('base64url'),
      );
      assert.deepEqual(set.signing.publicJwk.x5c, [rsa.certificate.raw.toString('base64')]);
    }
  });
});

describe('client keys: a key with several certificates', () => {
  it('binds the certificate valid now, not an expired one listed first (PEM bundle, PKCS#12)', async () => {
    const [rsa] = cases;
    assert.ok(rsa);
    const expired = await createSelfSignedCertificate(rsa.key, {
      notBefore: new Date('2020-01-01T00:00:00Z'),
      days: 30,
    });
    const notYetValid = await createSelfSignedCertificate(rsa.key, {
      notBefore: new Date(Date.now() + 400 * 86_400_000),
      days: 365,
    });
    const valid = rsa.certificate;
    const x5tOf = (c: X509Certificate) => createHash('sha256').update(c.raw).digest('base64url');
    const pem = rsa.key.export({ type: 'pkcs8', format: 'pem' }) as string;
    for (const path of [
      file(`${pem}${expired.toString()}${notYetValid.toString()}${valid.toString()}`),
      file(await exportPkcs12(rsa.key, [expired, valid], PASSPHRASE, 'modern')),
    ]) {
      const set = await loadClientKeySet(path, { passphrase: PASSPHRASE });
      assert.equal(set.signing.certificate?.x5tS256, x5tOf(valid), 'the valid certificate is sent');
      assert.deepEqual(set.signing.publicJwk.x5c, [valid.raw.toString('base64')]);
      assert.deepEqual(
        set.warnings.filter((w) => /certificate/.test(w)),
        [],
        'nothing to report: the bound certificate is valid',
      );
    }
    // None valid now: the one that expires last (the renewal), and its state is reported.
    const set = await loadClientKeySet(
      file(`${pem}${expired.toString()}${notYetValid.toString()}`),
    );
    assert.equal(set.signing.certificate?.x5tS256, x5tOf(notYetValid));
    assert.match(set.warnings.join('\n'), /is not valid before/);
  });
});

describe('client keys: refusals', () => {
  it('refuses a certificate of another key', async () => {
    const [rsa, ec] = cases;
    assert.ok(rsa && ec);
    const keyFile = file(rsa.key.export({ type: 'pkcs8', format: 'pem' }) as string);
    await rejects(
      loadClientKeySet(keyFile, { certFile: file(ec.certificate.toString()) }),
      'OIDC_CLIENT_CERT_FILE',
      /not for any key/,
    );
    await rejects(
      loadClientKeySet(
        file(
          `${rsa.key.export({ type: 'pkcs8', format: 'pem' }) as string}${ec.certificate.toString()}`,
        ),
      ),
      'OIDC_CLIENT_KEY_FILE',
      /certificate whose public key is not this key's/,
    );
    await rejects(
      loadClientKeySet(keyFile, { certFile: file('not a certificate') }),
      'OIDC_CLIENT_CERT_FILE',
      /is not a certificate/,
    );
  });

  it('names OIDC_CLIENT_KEY_PASSPHRASE when a PKCS#12 passphrase is wrong or missing', async () => {
    const [rsa, ec] = cases;
    assert.ok(rsa && ec);
    for (const pfx of [
      await exportPkcs12(rsa.key, [rsa.certificate], PASSPHRASE, 'legacy'),
      await exportPkcs12(ec.key, [ec.certificate], PASSPHRASE, 'modern'),
    ]) {
      const path = file(pfx);
      await rejects(
        loadClientKeySet(path, { passphrase: 'wrong passphrase' }),
        'OIDC_CLIENT_KEY_PASSPHRASE',
        /does not open .* \(wrong passphrase\)/,
      );
      await rejects(
        loadClientKeySet(path),
        'OIDC_CLIENT_KEY_PASSPHRASE',
        /is required: .* is passphrase-protected/,
      );
    }
  });

  it('names OIDC_CLIENT_KEY_PASSPHRASE for a PKCS#12 file without a MAC (RFC 7292 §4)', async () => {
    // `openssl pkcs12 -export -nomac` and some exporters leave out the MAC: then nothing but the
    // decryption of the shrouded key bag tells a wrong or missing passphrase.
    const [rsa] = cases;
    assert.ok(rsa);
    const forgeKey = forge.pki.privateKeyFromPem(
      rsa.key.export({ type: 'pkcs8', format: 'pem' }) as string,
    ) as forge.pki.rsa.PrivateKey;
    const cert = forge.pki.certificateFromPem(rsa.certificate.toString());
    const asn1 = forge.pkcs12.toPkcs12Asn1(forgeKey, [cert], PASSPHRASE, {
      algorithm: '3des',
      count: 2048,
      useMac: false,
    });
    const paths = [
      file(Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary')),
      // OpenSSL 3's defaults: the key bag under PBES2 (AES-256-CBC), the certificates too.
      ...(openssl ? [opensslPkcs12(rsa.key, rsa.certificate, false, '-nomac')] : []),
      ...(openssl
        ? [opensslPkcs12(rsa.key, rsa.certificate, false, '-nomac', '-certpbe', 'AES-256-CBC')]
        : []),
    ];
    for (const path of paths) {
      await rejects(
        loadClientKeySet(path),
        'OIDC_CLIENT_KEY_PASSPHRASE',
        /is required: .* is passphrase-protected/,
      );
      for (let i = 0; i < 20; i++) {
        await rejects(
          loadClientKeySet(path, { passphrase: `wrong passphrase ${i}` }),
          'OIDC_CLIENT_KEY_PASSPHRASE',
          /does not open .* \(wrong passphrase\)/,
        );
      }
      const set = await loadClientKeySet(path, { passphrase: PASSPHRASE });
      assert.equal(set.keys.length, 1);
    }
  });

  it('names OIDC_CLIENT_KEY_PASSPHRASE for an encrypted PEM key', async () => {
    const [, ec] = cases;
    assert.ok(ec);
    const path = file(
      ec.key.export({
        type: 'pkcs8',
        format: 'pem',
        cipher: 'aes-256-cbc',
        passphrase: PASSPHRASE,
      }) as string,
    );
    await rejects(loadClientKeySet(path), 'OIDC_CLIENT_KEY_PASSPHRASE', /is required/);
    await rejects(
      loadClientKeySet(path, { passphrase: 'nope' }),
      'OIDC_CLIENT_KEY_PASSPHRASE',
      /wrong passphrase/,
    );
  });

  it('names OIDC_CLIENT_KEY_PASSPHRASE for an encrypted PKCS#8 DER key, binary or base64', async () => {
    const [rsa] = cases;
    assert.ok(rsa);
    const der = rsa.key.export({
      type: 'pkcs8',
      format: 'der',
      cipher: 'aes-256-cbc',
      passphrase: PASSPHRASE,
    });
    for (const path of [file(der), file(der.toString('base64'))]) {
      await rejects(loadClientKeySet(path), 'OIDC_CLIENT_KEY_PASSPHRASE', /is required/);
      await rejects(
        loadClientKeySet(path, { passphrase: 'nope' }),
        'OIDC_CLIENT_KEY_PASSPHRASE',
        /wrong passphrase/,
      );
      const set = await loadClientKeySet(path, { passphrase: PASSPHRASE });
      assert.equal(set.format, 'der');
      assert.equal(
        set.signing.kid,
        await calculateJwkThumbprint(rsa.key.export({ format: 'jwk' }) as JWK),
      );
    }
  });

  it(
    'applies a forced algorithm to every key that can sign it, so a promoted key ' +
      'keeps its published alg',
    async () => {
      const a = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
        format: 'jwk',
      });
      const b = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
        format: 'jwk',
      });
      const c = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        format: 'jwk',
      });
      const before = await loadClientKeySet(
        file(JSON.stringify({ keys: [{ ...a, alg: 'RS256' }, { ...b, alg: 'RS256' }, c] })),
        { alg: 'PS256' },
      );
      assert.deepEqual(
        before.published.map((k) => k.alg),
        ['PS256', 'PS256', 'ES256'],
      );
      const promoted = await loadClientKeySet(
        file(JSON.stringify({ keys: [{ ...b, alg: 'RS256' }, { ...a, alg: 'RS256' }, c] })),
        { alg: 'PS256' },
      );
      assert.equal(promoted.signing.alg, 'PS256');
      assert.equal(
        promoted.published.find((k) => k.kid === before.published[1]?.kid)?.alg,
        'PS256',
      );
      await assert.rejects(
        loadClientKeySet(file(JSON.stringify({ keys: [c, a] })), { alg: 'PS256' }),
        /cannot sign PS256/,
      );
    },
  );

  it('refuses a JWK whose use or key_ops says it is not for signing, instead of publishing it as use sig', async () => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'jwk',
    });
    for (const declared of [
      { use: 'enc' },
      { key_ops: ['decrypt', 'unwrapKey'] },
      { key_ops: 'sign' },
    ]) {
      await rejects(
        loadClientKeySet(file(JSON.stringify({ keys: [{ ...jwk, ...declared }] }))),
        'OIDC_CLIENT_KEY_FILE',
        /key #1 is declared for .* not for signing/,
      );
    }
    // A signing key says so either way (the key tool writes use: sig).
    for (const declared of [
      { use: 'sig' },
      { key_ops: ['sign'] },
      { key_ops: ['sign', 'verify'] },
    ]) {
      const set = await loadClientKeySet(file(JSON.stringify({ ...jwk, ...declared })));
      assert.equal(set.signing.publicJwk.use, 'sig');
      assert.equal('key_ops' in set.signing.publicJwk, false);
    }
  });

  it('refuses an RSA-PSS (id-RSASSA-PSS) key with a fix instead of a crash', async () => {
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    await rejects(
      loadClientKeySet(file(pss)),
      'OIDC_CLIENT_KEY_FILE',
      /RSA-PSS \(id-RSASSA-PSS\) key/,
    );
  });

  it('refuses weak, public, unknown and malformed keys with a message naming the file', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    await rejects(
      loadClientKeySet(file(weak.export({ type: 'pkcs8', format: 'pem' }) as string)),
      'OIDC_CLIENT_KEY_FILE',
      /1024-bit RSA key; at least 2048/,
    );
    await rejects(
      loadClientKeySet(file(await exportPkcs12(weak, [], PASSPHRASE, 'modern')), {
        passphrase: PASSPHRASE,
      }),
      'OIDC_CLIENT_KEY_FILE',
      /1024-bit RSA key/,
    );
    const pub = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    await rejects(
      loadClientKeySet(file(pub.export({ type: 'spki', format: 'pem' }) as string)),
      'OIDC_CLIENT_KEY_FILE',
      /public key or certificate/,
    );
    await rejects(
      loadClientKeySet(file(JSON.stringify(pub.export({ format: 'jwk' })))),
      'OIDC_CLIENT_KEY_FILE',
      /not a private JWK/,
    );
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    await rejects(loadClientKeySet(file(p384)), 'OIDC_CLIENT_KEY_FILE', /supported are RSA/);
    const [rsa] = cases;
    assert.ok(rsa);
    const two = `${rsa.key.export({ type: 'pkcs8', format: 'pem' }) as string}${p384}`;
    await rejects(loadClientKeySet(file(two)), 'OIDC_CLIENT_KEY_FILE', /holds 2 private keys/);
    await rejects(
      loadClientKeySet(file(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]))),
      'OIDC_CLIENT_KEY_FILE',
      /neither PKCS#12 nor a DER private key/,
    );
    await rejects(loadClientKeySet(file('{not json')), 'OIDC_CLIENT_KEY_FILE', /not valid JSON/);
    await rejects(
      loadClientKeySet(file('hello')),
      'OIDC_CLIENT_KEY_FILE',
      /neither PEM, JWK\/JWKS JSON, PKCS#12 nor DER/,
    );
    await rejects(
      loadClientKeySet(join(dir, 'does-not-exist')),
      'OIDC_CLIENT_KEY_FILE',
      /cannot be read/,
    );
    await rejects(
      loadClientKeySet(file(JSON.stringify({ keys: [] }))),
      'OIDC_CLIENT_KEY_FILE',
      /empty JWKS/,
    );
    const jwk = rsa.key.export({ format: 'jwk' });
    await rejects(
      loadClientKeySet(
        file(
          JSON.stringify({
            keys: [
              { ...jwk, kid: 'same' },
              { ...jwk, kid: 'same' },
            ],
          }),
        ),
      ),
      'OIDC_CLIENT_KEY_FILE',
      /same kid/,
    );
    // RFC 7517 §4.5: kid is a string; a number, an object or nothing at all names no key.
    for (const kid of [7, '', { id: 'x' }, null]) {
      await rejects(
        loadClientKeySet(file(JSON.stringify({ keys: [{ ...jwk, kid }] }))),
        'OIDC_CLIENT_KEY_FILE',
        /key #1 has a kid that is not a non-empty string/,
      );
    }
  });
});

describe('client keys: hygiene', () => {
  it('refuses an RSA key whose public exponent is below 65537, in any format', async () => {
    for (const publicExponent of [3, 17, 257]) {
      const small = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent }).privateKey;
      for (const content of [
        small.export({ type: 'pkcs8', format: 'pem' }) as string,
        small.export({ type: 'pkcs1', format: 'pem' }) as string,
        JSON.stringify(small.export({ format: 'jwk' })),
      ]) {
        await rejects(
          loadClientKeySet(file(content)),
          'OIDC_CLIENT_KEY_FILE',
          new RegExp(`public exponent ${publicExponent}; at least 65537`),
        );
      }
    }
    const usual = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const set = await loadClientKeySet(file(usual.export({ type: 'pkcs8', format: 'pem' })));
    assert.equal(set.signing.publicJwk.e, 'AQAB', 'e = 65537');
  });

  it('warns when the key file is open to its group or other users', async (t) => {
    if (process.platform === 'win32') return t.skip('no POSIX modes');
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    const path = file(pem);
    const permissionWarnings = async (mode: number) => {
      chmodSync(path, mode);
      return (await loadClientKeySet(path)).warnings.filter((w) => w.includes('chmod 600'));
    };
    assert.deepEqual(await permissionWarnings(0o600), []);
    assert.deepEqual(await permissionWarnings(0o400), []);
    assert.match(
      (await permissionWarnings(0o644))[0] ?? '',
      /its group and other users \(mode 644\)/,
    );
    assert.match((await permissionWarnings(0o640))[0] ?? '', /open to its group \(mode 640\)/);
    assert.match((await permissionWarnings(0o604))[0] ?? '', /open to other users \(mode 604\)/);
    assert.match((await permissionWarnings(0o620))[0] ?? '', /its group/);
  });
});

describe('client keys: reloading', () => {
  it(
    'reloads a changed key file after the check interval, and keeps the old keys ' +
      'when the new file is broken',
    async () => {
      const [rsa, ec] = cases;
      assert.ok(rsa && ec);
      const path = join(dir, 'rotating.jwks.json');
      const write = (content: string) => {
        writeFileSync(`${path}.tmp`, content);
        renameSync(`${path}.tmp`, path);
      };
      const a = { ...rsa.key.export({ format: 'jwk' }), kid: 'a' };
      const b = { ...ec.key.export({ format: 'jwk' }), kid: 'b' };
      write(JSON.stringify({ keys: [a] }));
      let now = 1_000_000;
      const loader = createKeySetLoader({ file: path }, () => now);
      const kids = async () => {
        const set: ClientKeySet = await loader.get();
        return `${set.signing.kid}:${set.published.map((k) => k.kid).join(',')}`;
      };
      assert.equal(await kids(), 'a:a');
      write(JSON.stringify({ keys: [a, b] }));
      now += KEY_FILE_CHECK_INTERVAL_MS - 1;
      assert.equal(await kids(), 'a:a', 'not checked again within the interval');
      now += 2;
      assert.equal(await kids(), 'a:a,b', 'the rotated-in key is published');
      write(JSON.stringify({ keys: [b, a] }));
      now += KEY_FILE_CHECK_INTERVAL_MS;
      assert.equal(await kids(), 'b:b,a', 'the promoted key signs');
      write('{ half-written');
      now += KEY_FILE_CHECK_INTERVAL_MS;
      assert.equal(await kids(), 'b:b,a', 'a broken file keeps the previous keys');
      // A hand edit that leaves a kid that is no string (RFC 7517 §4.5) is a broken file too.
      for (const kid of [7, '', { id: 'b' }]) {
        write(JSON.stringify({ keys: [{ ...b, kid }, a] }));
        now += KEY_FILE_CHECK_INTERVAL_MS;
        assert.equal(await kids(), 'b:b,a', `kid ${JSON.stringify(kid)} keeps the previous keys`);
      }
      write(JSON.stringify({ keys: [b] }));
      now += KEY_FILE_CHECK_INTERVAL_MS;
      assert.equal(await kids(), 'b:b', 'the fixed file is picked up');
    },
  );
});
