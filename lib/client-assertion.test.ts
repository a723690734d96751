import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import type { ClientAuth } from 'openid-client';

import type { AppConfig } from './config';
import { CLIENT_ASSERTION_TYP, createClientAuthentication, JWT_BEARER_ASSERTION_TYPE, resolveAudience } from './client-assertion';
import { loadClientKeySet, type ClientKeySet } from './keys';

const as = { issuer: 'https://idp.example.com/realms/demo', token_endpoint: 'https://idp.example.com/realms/demo/protocol/openid-connect/token' };
const clientMetadata = { client_id: 'client_using_jwt' };
const defaults: AppConfig['assertion'] = { alg: undefined, audience: { mode: 'issuer' }, typ: true, lifetimeSeconds: 60 };

let keys: ClientKeySet;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rp-assertion-'));
  const file = join(dir, 'key.pem');
  writeFileSync(file, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  keys = await loadClientKeySet(file);
});

/** Runs the client authentication exactly as openid-client does for a token request. */
async function sign(auth: ClientAuth): Promise<{ body: URLSearchParams; jwt: string }> {
  const body = new URLSearchParams({ grant_type: 'authorization_code' });
  await auth(as as never, clientMetadata as never, body, new Headers());
  const jwt = body.get('client_assertion');
  assert.ok(jwt, 'a client_assertion was added');
  return { body, jwt };
}

async function verify(jwt: string) {
  const publicKey = await importJWK(keys.signing.publicJwk, keys.signing.alg);
  return jwtVerify(jwt, publicKey, { algorithms: [keys.signing.alg] });
}

describe('client assertion (private_key_jwt)', () => {
  it('sends the jwt-bearer assertion type and the client_id alongside', async () => {
    const { body } = await sign(createClientAuthentication(keys.signing, defaults));
    assert.equal(body.get('client_assertion_type'), JWT_BEARER_ASSERTION_TYPE);
    assert.equal(body.get('client_id'), 'client_using_jwt');
    assert.equal(body.get('client_secret'), null);
  });

  it('has the RFC 10070 header: alg, kid, typ', async () => {
    const { jwt } = await sign(createClientAuthentication(keys.signing, defaults));
    const header = decodeProtectedHeader(jwt);
    assert.deepEqual(header, { alg: 'RS256', kid: keys.signing.kid, typ: CLIENT_ASSERTION_TYP });
  });

  it('is signed by the client key and carries iss = sub = client_id, aud = issuer, a short exp', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { jwt } = await sign(createClientAuthentication(keys.signing, defaults));
    const { payload } = await verify(jwt);
    assert.equal(payload.iss, 'client_using_jwt');
    assert.equal(payload.sub, 'client_using_jwt');
    // One string, the issuer identifier: not an array, not the token endpoint.
    assert.equal(payload.aud, as.issuer);
    assert.equal(typeof payload.iat, 'number');
    assert.ok(Math.abs((payload.iat as number) - before) <= 2);
    assert.equal(payload.nbf, payload.iat);
    assert.equal((payload.exp as number) - (payload.iat as number), 60);
    assert.match(String(payload.jti), /^[A-Za-z0-9_-]{22,}$/, 'jti carries at least 128 bits');
  });

  it('signs a fresh assertion, with a new jti, for every request', async () => {
    const auth = createClientAuthentication(keys.signing, defaults);
    const first = await verify((await sign(auth)).jwt);
    const second = await verify((await sign(auth)).jwt);
    assert.notEqual(first.payload.jti, second.payload.jti);
  });

  it('uses the token endpoint or an explicit URL as aud only when configured', async () => {
    const legacy = await verify((await sign(createClientAuthentication(keys.signing, { ...defaults, audience: { mode: 'token_endpoint' } }))).jwt);
    assert.equal(legacy.payload.aud, as.token_endpoint);
    const url = 'https://login.example.com/oauth2/v2.0/token';
    const explicit = await verify((await sign(createClientAuthentication(keys.signing, { ...defaults, audience: { mode: 'url', url } }))).jwt);
    assert.equal(explicit.payload.aud, url);
    assert.throws(() => resolveAudience({ mode: 'token_endpoint' }, { issuer: as.issuer }), /no token_endpoint/);
  });

  it('omits typ when switched off and applies the configured lifetime', async () => {
    const { jwt } = await sign(createClientAuthentication(keys.signing, { ...defaults, typ: false, lifetimeSeconds: 300 }));
    assert.equal(decodeProtectedHeader(jwt).typ, undefined);
    const { payload } = await verify(jwt);
    assert.equal((payload.exp as number) - (payload.iat as number), 300);
  });
});
