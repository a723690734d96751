import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';

import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';

import { findFreePort } from '../scripts/processes';
import { computeFreshUntil } from './client-jwks-cache';
import { settingsFromEnv, startProvider } from './index';

/**
 * The bundled provider's cache of the client's jwks_uri, against a real provider in this process
 * and a JWKS served over loopback HTTP: with oidc-provider's own 60 s floor a key published a
 * moment ago stays unknown; with the floor lowered, the JWKS's max-age decides.
 */

const CLIENT_ID = 'client_using_jwt';
const APP_URL = 'http://localhost:3998';

type SigningKey = { key: KeyObject; jwk: JWK & { kid: string } };

async function createKey(): Promise<SigningKey> {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const {
    d: _d,
    p: _p,
    q: _q,
    dp: _dp,
    dq: _dq,
    qi: _qi,
    ...pub
  } = key.export({
    format: 'jwk',
  }) as JWK;
  return { key, jwk: { ...pub, kid: await calculateJwkThumbprint(pub), alg: 'RS256', use: 'sig' } };
}

/** The client's jwks_uri: serves whatever `keys` holds, with `max-age`, and counts fetches. */
async function serveJwks(maxAge: number): Promise<{
  url: string;
  server: Server;
  publish(keys: SigningKey[]): void;
  fetches(): number;
}> {
  let published: JWK[] = [];
  let fetches = 0;
  const server = createServer((_request, response) => {
    fetches++;
    response.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': `public, max-age=${maxAge}`,
    });
    response.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    server,
    publish: (keys) => {
      published = keys.map((k) => k.jwk);
    },
    fetches: () => fetches,
  };
}

/** Posts a token request authenticated by an assertion signed with `signer`; the code is made up. */
async function authenticate(issuer: string, signer: SigningKey): Promise<string | undefined> {
  const iat = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ jti: randomBytes(16).toString('base64url') })
    .setProtectedHeader({ alg: 'RS256', kid: signer.jwk.kid, typ: 'client-authentication+jwt' })
    .setIssuer(CLIENT_ID)
    .setSubject(CLIENT_ID)
    .setAudience(issuer)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + 60)
    .sign(signer.key);
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: 'made-up-code',
      redirect_uri: `${APP_URL}/auth/callback`,
      code_verifier: 'v'.repeat(43),
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  // invalid_grant: the client authenticated and only the made-up code failed.
  return ((await response.json()) as { error?: string }).error;
}

const servers: Server[] = [];
after(() => {
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
});

/** A rotation: A signs, B replaces A in the JWKS, then B signs `waitMs` later. */
async function rotate(
  floor: string | undefined,
  maxAge: number,
  waitMs: number,
): Promise<{
  first: string | undefined;
  right: string | undefined;
  later: string | undefined;
  fetches: number;
}> {
  const jwks = await serveJwks(maxAge);
  servers.push(jwks.server);
  const issuer = `http://localhost:${await findFreePort()}`;
  const { server } = await startProvider(
    await settingsFromEnv({
      NODE_ENV: 'test',
      PROVIDER_ISSUER: issuer,
      APP_URL,
      PROVIDER_CLIENT_JWKS_URI: jwks.url,
      ...(floor === undefined ? {} : { PROVIDER_CLIENT_JWKS_CACHE_FLOOR: floor }),
    }),
  );
  servers.push(server);
  const [a, b] = [await createKey(), await createKey()];
  jwks.publish([a]);
  const first = await authenticate(issuer, a);
  jwks.publish([b]);
  const right = await authenticate(issuer, b);
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  const later = await authenticate(issuer, b);
  return { first, right, later, fetches: jwks.fetches() };
}

describe('the client JWKS cache of the bundled provider', { concurrency: true }, () => {
  it('by default keeps oidc-provider’s rule: at least 60 s, even for an unknown kid', async () => {
    const { first, right, later, fetches } = await rotate(undefined, 3, 4100);
    assert.equal(first, 'invalid_grant');
    assert.equal(right, 'invalid_client');
    assert.equal(later, 'invalid_client', 'the 3 s max-age does not shorten the 60 s floor');
    assert.equal(fetches, 1);
  });

  it('with the floor lowered, refetches once the JWKS’s max-age has passed', async () => {
    const { first, right, later, fetches } = await rotate('0', 3, 4100);
    assert.equal(first, 'invalid_grant');
    assert.equal(right, 'invalid_client', 'within max-age the copy is kept, as before');
    assert.equal(later, 'invalid_grant', 'after max-age the new key is fetched and accepted');
    assert.equal(fetches, 2);
  });

  it('reads max-age and Expires as oidc-provider does, with the floor as the least', () => {
    const now = Date.parse('2026-11-30T12:00:00Z');
    const at = now / 1000;
    const headers = (h: Record<string, string>) => new Headers(h);
    assert.equal(computeFreshUntil(headers({}), 60, now), at + 60);
    assert.equal(computeFreshUntil(headers({ 'cache-control': 'max-age=5' }), 0, now), at + 5);
    assert.equal(computeFreshUntil(headers({ 'cache-control': 'max-age=5' }), 60, now), at + 60);
    assert.equal(computeFreshUntil(headers({ 'cache-control': 'max-age=300' }), 0, now), at + 300);
    assert.equal(
      computeFreshUntil(headers({ expires: 'Mon, 30 Nov 2026 12:02:00 GMT' }), 0, now),
      at + 120,
    );
    assert.equal(computeFreshUntil(headers({ expires: 'garbage' }), 3, now), at + 3);
  });

  it('refuses a floor that is not a number of seconds', async () => {
    for (const floor of ['-1', 'soon', '1e3', '90000'])
      await assert.rejects(
        settingsFromEnv({ NODE_ENV: 'test', PROVIDER_CLIENT_JWKS_CACHE_FLOOR: floor }),
        /PROVIDER_CLIENT_JWKS_CACHE_FLOOR/,
      );
  });
});

describe('the loopback exception to the SSRF guard, for the client’s jwks_uri', () => {
  /** The JWKS holding `signer`, on 127.0.0.2: an address the exception does not name. */
  async function serveElsewhere(signer: SigningKey): Promise<string> {
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: [signer.jwk] }));
    });
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.2', done));
    return `http://127.0.0.2:${(server.address() as AddressInfo).port}/jwks.json`;
  }

  async function providerFor(jwksUri: string): Promise<string> {
    const issuer = `http://localhost:${await findFreePort()}`;
    const { server } = await startProvider(
      await settingsFromEnv({
        NODE_ENV: 'test',
        PROVIDER_ISSUER: issuer,
        APP_URL,
        PROVIDER_CLIENT_JWKS_URI: jwksUri,
      }),
    );
    servers.push(server);
    return issuer;
  }

  it('does not follow a redirect from a loopback jwks_uri to an address the guard refuses', async () => {
    const signer = await createKey();
    const elsewhere = await serveElsewhere(signer);
    // Control: named directly, 127.0.0.2 is refused by oidc-provider's guard.
    assert.equal(await authenticate(await providerFor(elsewhere), signer), 'invalid_client');
    const redirect = createServer((_request, response) => {
      response.writeHead(302, { location: elsewhere });
      response.end();
    });
    servers.push(redirect);
    await new Promise<void>((done) => redirect.listen(0, '127.0.0.1', done));
    const jwksUri = `http://localhost:${(redirect.address() as AddressInfo).port}/.well-known/jwks.json`;
    assert.equal(
      await authenticate(await providerFor(jwksUri), signer),
      'invalid_client',
      'the key was fetched from 127.0.0.2 through the loopback exception',
    );
  });
});
