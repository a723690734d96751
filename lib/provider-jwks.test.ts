import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

import { isNetworkError } from './discovery';
import { createProviderJwks, JWKS_UNAVAILABLE } from './provider-jwks';

/**
 * The provider's key cache against a JWKS served from this process: refetch on an unknown kid
 * (once, at once, for back-channel tokens only), the OIDC Core §10.1 kid rule, and failures to
 * obtain the keys told apart from tokens that do not verify.
 */

type Key = { kid: string; privateKey: CryptoKey; publicJwk: JWK };

async function newKey(alg: 'RS256' | 'ES256' = 'RS256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, use: 'sig' } };
}

function sign(key: Key, { withKid = true, alg = 'RS256' } = {}): Promise<string> {
  return new SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg, ...(withKid ? { kid: key.kid } : {}) })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key.privateKey);
}

let server: Server;
let jwksUri: string;
let published: JWK[] = [];
let status = 200;
let fetches = 0;

before(async () => {
  server = createServer((_req, res) => {
    fetches += 1;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});

after(() => {
  server.close();
  server.closeAllConnections();
});

beforeEach(() => {
  status = 200;
  fetches = 0;
});

const OPTIONS = { algorithms: ['RS256', 'ES256'] };

describe('createProviderJwks', () => {
  it('verifies with the published key and caches the key set', async () => {
    const key = await newKey();
    published = [key.publicJwk];
    const jwks = createProviderJwks(jwksUri, 5000);
    assert.equal((await jwks.verify(await sign(key), OPTIONS, true)).payload.sub, 'alice');
    await jwks.verify(await sign(key), OPTIONS, true);
    assert.equal(fetches, 1);
  });

  it('refetches at once for a back-channel token signed by a key rotated in moments ago', async () => {
    const old = await newKey();
    published = [old.publicJwk];
    const jwks = createProviderJwks(jwksUri, 5000);
    await jwks.verify(await sign(old), OPTIONS, true);
    const rotated = await newKey();
    published = [rotated.publicJwk];
    assert.equal((await jwks.verify(await sign(rotated), OPTIONS, true)).payload.sub, 'alice');
    assert.equal(fetches, 2, 'one refetch, inside the cooldown');
  });

  it('refetches once per cooldown for tokens anyone could have sent, whatever else fetched', async () => {
    const old = await newKey();
    published = [old.publicJwk];
    const jwks = createProviderJwks(jwksUri, 5000);
    await jwks.verify(await sign(old), OPTIONS, false);
    // The provider signs with a key it published since that fetch (a logout token, say).
    const rotated = await newKey();
    published = [rotated.publicJwk];
    assert.equal((await jwks.verify(await sign(rotated), OPTIONS, false)).payload.sub, 'alice');
    assert.equal(fetches, 2, 'one refetch, inside the cooldown');
    // The next unknown kid within the cooldown, and every one after it: no more fetches.
    for (let i = 0; i < 5; i++) {
      await assert.rejects(jwks.verify(await sign(await newKey()), OPTIONS, false), {
        code: 'ERR_JWKS_NO_MATCHING_KEY',
      });
    }
    assert.equal(fetches, 2);
    // A back-channel token still gets its own refetch.
    const again = await newKey();
    published = [again.publicJwk];
    assert.equal((await jwks.verify(await sign(again), OPTIONS, true)).payload.sub, 'alice');
    assert.equal(fetches, 3);
  });

  it('asks once, not twice, when the kid is unknown on the first use', async () => {
    published = [(await newKey()).publicJwk];
    const jwks = createProviderJwks(jwksUri, 5000);
    await assert.rejects(jwks.verify(await sign(await newKey()), OPTIONS, true), {
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });
    assert.equal(fetches, 1);
  });

  it('accepts a JWT without kid when one signing key is published (OIDC Core §10.1)', async () => {
    const key = await newKey();
    published = [key.publicJwk, { ...(await newKey()).publicJwk, use: 'enc' }];
    const jwks = createProviderJwks(jwksUri, 5000);
    assert.equal(
      (await jwks.verify(await sign(key, { withKid: false }), OPTIONS, true)).payload.sub,
      'alice',
    );
  });

  it('refuses a JWT without kid when several signing keys are published, of one type or several', async () => {
    const key = await newKey();
    for (const other of [await newKey('RS256'), await newKey('ES256')]) {
      published = [key.publicJwk, other.publicJwk];
      const jwks = createProviderJwks(jwksUri, 5000);
      await assert.rejects(
        jwks.verify(await sign(key, { withKid: false }), OPTIONS, true),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'ERR_JWKS_MULTIPLE_MATCHING_KEYS');
          return true;
        },
      );
    }
  });

  it('reports a JWKS that cannot be obtained apart from a token that does not verify', async () => {
    const key = await newKey();
    published = [key.publicJwk];
    status = 503;
    await assert.rejects(createProviderJwks(jwksUri, 5000).verify(await sign(key), OPTIONS, true), {
      code: JWKS_UNAVAILABLE,
    });
    status = 200;
    const jwks = createProviderJwks(jwksUri, 5000);
    const forged = `${(await sign(key)).slice(0, -4)}AAAA`;
    await assert.rejects(jwks.verify(forged, OPTIONS, true), {
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('reports a JWKS that cannot be reached (no server) as unavailable', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));
    const key = await newKey();
    const jwks = createProviderJwks(`http://127.0.0.1:${port}/jwks`, 5000);
    await assert.rejects(jwks.verify(await sign(key), OPTIONS, true), { code: JWKS_UNAVAILABLE });
  });

  it('refuses a token signed by an RSA key under 2048 bits as a bad token, not keys unavailable', async () => {
    // RFC 7518 §3.3: RS256 keys MUST be 2048 bits or larger; jose refuses the key (a TypeError),
    // which says nothing about the provider being unreachable.
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    published = [{ ...weak.publicKey.export({ format: 'jwk' }), kid: 'weak', use: 'sig' }];
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const input = `${encode({ alg: 'RS256', kid: 'weak' })}.${encode({ sub: 'alice', iat: now, exp: now + 300 })}`;
    const jwt = `${input}.${createSign('RSA-SHA256').update(input).sign(weak.privateKey).toString('base64url')}`;
    const jwks = createProviderJwks(jwksUri, 5000);
    await assert.rejects(jwks.verify(jwt, OPTIONS, true), (err: Error & { code?: string }) => {
      assert.notEqual(err.code, JWKS_UNAVAILABLE, err.message);
      assert.equal(isNetworkError(err), false, err.message);
      return true;
    });
    assert.equal(fetches, 1, 'the keys were obtained');
  });
});
