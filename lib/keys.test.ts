import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { ConfigError } from './errors';
import { loadClientKeySet, toPublicJwk } from './keys';

const dir = mkdtempSync(join(tmpdir(), 'rp-keys-'));
let n = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `key-${n++}`);
  writeFileSync(path, content);
  return path;
}

function formats(key: KeyObject, pemTypes: ReadonlyArray<'pkcs8' | 'pkcs1' | 'sec1'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const type of pemTypes) out[type] = file(key.export({ type, format: 'pem' }) as string);
  const jwk = key.export({ format: 'jwk' });
  out.jwk = file(JSON.stringify(jwk));
  out.jwks = file(JSON.stringify({ keys: [jwk] }));
  return out;
}

async function rejects(path: string, pattern: RegExp) {
  await assert.rejects(loadClientKeySet(path), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems[0]?.variable, 'OIDC_CLIENT_KEY_FILE');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('client keys', () => {
  it('computes kid as the RFC 7638 thumbprint (RFC 7638 §3.1 example)', async () => {
    const rfcKey = createPublicKey({
      format: 'jwk',
      key: {
        kty: 'RSA',
        e: 'AQAB',
        n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      },
    });
    const jwk = await toPublicJwk(rfcKey, 'RS256');
    assert.equal(jwk.kid, 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('loads an RSA key from PKCS#8 PEM, PKCS#1 PEM, a JWK and a JWKS to the same public JWK', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const loaded = await Promise.all(Object.values(formats(privateKey, ['pkcs8', 'pkcs1'])).map((f) => loadClientKeySet(f)));
    const [first] = loaded;
    assert.ok(first);
    for (const set of loaded) {
      assert.deepEqual(set.published, first.published);
      assert.equal(set.signing.alg, 'RS256');
    }
    const jwk = first.signing.publicJwk;
    assert.deepEqual(Object.keys(jwk).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
    assert.equal(jwk.use, 'sig');
    assert.equal(first.signing.privateKey.extractable, false);
  });

  it('loads EC P-256 keys from SEC1 and PKCS#8 PEM and JWK, signing ES256', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const loaded = await Promise.all(Object.values(formats(privateKey, ['pkcs8', 'sec1'])).map((f) => loadClientKeySet(f)));
    for (const set of loaded) {
      assert.deepEqual(set.published, loaded[0]?.published);
      assert.equal(set.signing.alg, 'ES256');
      assert.equal(set.signing.publicJwk.d, undefined);
    }
  });

  it('loads Ed25519 keys, signing EdDSA', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const set = await loadClientKeySet(file(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));
    assert.equal(set.signing.alg, 'EdDSA');
    assert.equal(set.signing.publicJwk.crv, 'Ed25519');
  });

  it('keeps a kid and alg given in a JWK, and publishes every key of a JWKS with the first signing', async () => {
    const a = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const set = await loadClientKeySet(file(JSON.stringify({ keys: [{ ...a, kid: 'key-a', alg: 'PS256' }, { ...b, kid: 'key-b' }] })));
    assert.equal(set.signing.kid, 'key-a');
    assert.equal(set.signing.alg, 'PS256');
    assert.deepEqual(set.published.map((k) => k.kid), ['key-a', 'key-b']);
    assert.deepEqual(set.published.map((k) => k.alg), ['PS256', 'ES256']);
  });

  it('refuses weak, public, unknown and malformed keys with a message naming the file', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await rejects(file(weak), /1024-bit RSA key; at least 2048/);
    const pub = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    await rejects(file(pub.export({ type: 'spki', format: 'pem' }) as string), /public key or certificate/);
    await rejects(file(JSON.stringify(pub.export({ format: 'jwk' }))), /not a private JWK/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await rejects(file(p384), /supported are RSA/);
    await rejects(file('{not json'), /not valid JSON/);
    await rejects(file('hello'), /neither PEM nor JWK/);
    await rejects(join(dir, 'does-not-exist'), /cannot be read/);
    await rejects(file(JSON.stringify({ keys: [] })), /empty JWKS/);
  });
});
