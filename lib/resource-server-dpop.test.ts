import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import {
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type JWTPayload,
} from 'jose';

import { createDpopNonces, DPOP_NONCE_STEP_SECONDS } from './dpop-nonce';
import { computeAth, normalizeHtu } from './dpop-proof';
import { answerMessageRequest, answerMessagesRequest } from './messages-api';
import { DPOP_PROOF_ALGS, FAPI2_ALGS } from './protocol-profile';
import { createProviderJwks, type ProviderJwks } from './provider-jwks';
import { createMemoryReplayStore, ReplayStoreUnavailableError } from './replay-store';
import { authorizeRequest, type ApiDpopPolicy, type ResourceServerPolicy } from './resource-server';
import {
  API,
  CLIENT_ID,
  ISSUER,
  JwksServer,
  now,
  URL_API,
  type Key,
} from './resource-server-test-support';

/**
 * The protected API and DPoP (RFC 9449 §4.3, §7, §9): every rule of a proof, one by one, against
 * tokens signed by a local "provider" key and proofs signed by client keys made here.
 */

async function newKey(alg: string, options: { crv?: string } = {}): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

const jwksServer = new JwksServer();
let jwks: ProviderJwks;
let opKey: Key;
let clientKey: Key;
let clientJkt: string;
let otherKey: Key;

before(async () => {
  opKey = await newKey('RS256');
  clientKey = await newKey('ES256');
  clientJkt = await calculateJwkThumbprint(clientKey.publicJwk);
  otherKey = await newKey('ES256');
  jwksServer.keys = [{ ...opKey.publicJwk, kid: 'op-1', alg: 'RS256', use: 'sig' }];
  await jwksServer.start();
  jwks = createProviderJwks(jwksServer.url, 2000);
});

after(() => jwksServer.stop());

function dpopPolicy(overrides: Partial<ApiDpopPolicy> = {}): ApiDpopPolicy {
  return {
    algorithms: DPOP_PROOF_ALGS,
    advertised: true,
    required: false,
    replay: createMemoryReplayStore(),
    ...overrides,
  };
}

function policyWith(dpop: ApiDpopPolicy | null = dpopPolicy()): ResourceServerPolicy {
  return {
    issuer: ISSUER,
    audience: API,
    requiredScope: 'api1',
    realm: API,
    dpop: dpop ?? undefined,
  };
}

/** An RFC 9068 access token, bound to `jkt` unless told otherwise. */
async function mintToken(jkt: string | null = clientJkt): Promise<string> {
  return new SignJWT({
    iss: ISSUER,
    sub: 'alice',
    aud: API,
    client_id: CLIENT_ID,
    scope: 'openid api1',
    jti: randomUUID(),
    iat: now(),
    exp: now() + 300,
    ...(jkt === null ? {} : { cnf: { jkt } }),
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'op-1' })
    .sign(opKey.privateKey);
}

type ProofOptions = {
  key?: Key;
  alg?: string;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  drop?: string[];
  token?: string;
};

/** A DPoP proof (RFC 9449 §4.2) for GET URL_API and `token`, with overrides. */
async function mintProof(token: string, options: ProofOptions = {}): Promise<string> {
  const key = options.key ?? clientKey;
  const claims: Record<string, unknown> = {
    jti: randomUUID(),
    htm: 'GET',
    htu: URL_API,
    iat: now(),
    ath: computeAth(options.token ?? token),
    ...options.claims,
  };
  for (const claim of options.drop ?? []) delete claims[claim];
  const header: Record<string, unknown> = {
    alg: options.alg ?? 'ES256',
    typ: 'dpop+jwt',
    jwk: key.publicJwk,
    ...options.header,
  };
  for (const name of Object.keys(header)) if (header[name] === undefined) delete header[name];
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader(header as { alg: string })
    .sign(key.privateKey);
}

function dpopRequest(token: string, proof: string | string[] | null, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `DPoP ${token}`);
  for (const p of proof === null ? [] : Array.isArray(proof) ? proof : [proof])
    headers.append('dpop', p);
  return new Request(URL_API, { ...init, headers });
}

function send(req: Request, policy: ResourceServerPolicy = policyWith()): Promise<Response> {
  return answerMessagesRequest(req, (r) => authorizeRequest(r, policy, async () => jwks));
}

/** Expects a 401 with a DPoP challenge carrying `error` (and `algs`), a JSON body, no-store. */
async function expectDpopRefusal(
  res: Response,
  error: string,
  description?: RegExp,
): Promise<string> {
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('cache-control'), 'no-store, no-transform');
  const challenge = res.headers.get('www-authenticate') ?? '';
  assert.match(challenge, new RegExp(`^DPoP realm="${API}", error="${error}"`));
  assert.match(challenge, /algs="[A-Za-z0-9 ]+"/);
  const body = (await res.json()) as { error: string; error_description: string };
  assert.equal(body.error, error);
  if (description) assert.match(body.error_description, description);
  return challenge;
}

describe('the API accepts a DPoP-bound token with a valid proof', () => {
  it('200, and the caller is the token’s', async () => {
    const token = await mintToken();
    const res = await send(dpopRequest(token, await mintProof(token)));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('www-authenticate'), null);
    const body = (await res.json()) as { caller: Record<string, string> };
    assert.deepEqual(body.caller, { client_id: CLIENT_ID, sub: 'alice', scope: 'openid api1' });
  });

  it('reports the binding: the scheme and the proof key’s thumbprint', async () => {
    const token = await mintToken();
    const result = await authorizeRequest(
      dpopRequest(token, await mintProof(token)),
      policyWith(),
      async () => jwks,
    );
    assert.ok(result.ok);
    assert.deepEqual(result.binding, { scheme: 'dpop', jkt: clientJkt });
  });

  it('accepts ES256, PS256 and Ed25519 proofs (under either name), and the scheme in any case', async () => {
    for (const [alg, key] of [
      ['PS256', await newKey('PS256')],
      ['EdDSA', await newKey('Ed25519')],
      ['Ed25519', await newKey('Ed25519')],
    ] as const) {
      const token = await mintToken(await calculateJwkThumbprint(key.publicJwk));
      const res = await send(dpopRequest(token, await mintProof(token, { key, alg })));
      assert.equal(res.status, 200, alg);
    }
    const token = await mintToken();
    const proof = await mintProof(token);
    const req = new Request(URL_API, { headers: { authorization: `dpop ${token}`, dpop: proof } });
    assert.equal((await send(req)).status, 200);
  });

  it('normalises htu as RFC 9449 §4.3 says: no query or fragment, case of scheme and host, default port', async () => {
    for (const htu of [
      `${URL_API}?page=2`,
      `${URL_API}#top`,
      'HTTPS://App.Example:443/api/messages',
      'https://app.example/api/./messages',
    ]) {
      const token = await mintToken();
      const res = await send(dpopRequest(token, await mintProof(token, { claims: { htu } })));
      assert.equal(res.status, 200, htu);
    }
    assert.equal(normalizeHtu('https://a.example/x?y#z'), 'https://a.example/x');
    assert.equal(normalizeHtu('ftp://a.example/x'), undefined);
    assert.equal(normalizeHtu(42), undefined);
  });

  it('normalises percent-encoding in htu as RFC 3986 §6.2.2.1–§6.2.2.2 say (RFC 9449 §4.3)', async () => {
    // An unreserved character percent-encoded is the same URI; a reserved one (`/`) is not.
    const token = await mintToken();
    const encoded = await mintProof(token, {
      claims: { htu: 'https://app.example/api/m%65ssages' },
    });
    assert.equal((await send(dpopRequest(token, encoded))).status, 200);
    const slash = await mintProof(token, { claims: { htu: 'https://app.example/api%2Fmessages' } });
    await expectDpopRefusal(await send(dpopRequest(token, slash)), 'invalid_dpop_proof', /URL/);
    // Hex digits of a percent-encoding compare case-insensitively.
    assert.equal(normalizeHtu('https://a.example/a%2fb'), normalizeHtu('https://a.example/a%2Fb'));
    assert.equal(normalizeHtu('https://a.example/%7euser'), 'https://a.example/~user');
  });

  it('accepts typ application/dpop+jwt', async () => {
    const token = await mintToken();
    const proof = await mintProof(token, { header: { typ: 'application/dpop+jwt' } });
    assert.equal((await send(dpopRequest(token, proof))).status, 200);
  });

  it('checks htu against the public origin, not the address the server saw', async () => {
    const token = await mintToken();
    const proof = await mintProof(token);
    const inside = new Request('http://0.0.0.0:3000/api/messages', {
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    });
    const policy = policyWith(dpopPolicy({ publicOrigin: 'https://app.example' }));
    assert.equal((await send(inside, policy)).status, 200);
    const token2 = await mintToken();
    const elsewhere = new Request('http://0.0.0.0:3000/api/messages', {
      headers: { authorization: `DPoP ${token2}`, dpop: await mintProof(token2) },
    });
    await expectDpopRefusal(await send(elsewhere, policyWith()), 'invalid_dpop_proof', /htu/);
  });

  it('keeps the public origin for a path that starts with //: the path never names the host', async () => {
    const token = await mintToken();
    const proof = await mintProof(token, { claims: { htu: 'https://other.example/api/messages' } });
    const request = new Request('http://0.0.0.0:3000//other.example/api/messages', {
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    });
    const policy = policyWith(dpopPolicy({ publicOrigin: 'https://app.example' }));
    await expectDpopRefusal(await send(request, policy), 'invalid_dpop_proof', /htu/);
  });
});

describe('the API refuses a DPoP request, rule by rule (RFC 9449 §4.3, §7.1)', () => {
  it('no DPoP header, or two of them', async () => {
    const token = await mintToken();
    await expectDpopRefusal(await send(dpopRequest(token, null)), 'invalid_dpop_proof', /no DPoP/);
    const a = await mintProof(token);
    const b = await mintProof(token);
    await expectDpopRefusal(
      await send(dpopRequest(token, [a, b])),
      'invalid_dpop_proof',
      /more than one/,
    );
  });

  it('a proof that is not a JWT, or is too long', async () => {
    const token = await mintToken();
    for (const proof of ['garbage', 'a.b.c', `${'x'.repeat(9000)}`]) {
      await expectDpopRefusal(await send(dpopRequest(token, proof)), 'invalid_dpop_proof');
    }
  });

  it('typ other than dpop+jwt, or none', async () => {
    const token = await mintToken();
    for (const typ of [undefined, 'JWT', 'at+jwt', 'dpop']) {
      const proof = await mintProof(token, { header: { typ } });
      await expectDpopRefusal(
        await send(dpopRequest(token, proof)),
        'invalid_dpop_proof',
        /dpop\+jwt/,
      );
    }
  });

  it('alg none, a MAC, or an algorithm outside the allowed list', async () => {
    const token = await mintToken();
    const good = await mintProof(token);
    const [, payload] = good.split('.');
    const none = base64url.encode(
      JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: clientKey.publicJwk }),
    );
    await expectDpopRefusal(
      await send(dpopRequest(token, `${none}.${payload}.`)),
      'invalid_dpop_proof',
      /algorithm/,
    );
    const secret = new Uint8Array(32).fill(7);
    const hs = await new SignJWT({ jti: 'x', htm: 'GET', htu: URL_API, iat: now() })
      .setProtectedHeader({
        alg: 'HS256',
        typ: 'dpop+jwt',
        jwk: { kty: 'oct', k: base64url.encode(secret) },
      } as { alg: string })
      .sign(secret);
    await expectDpopRefusal(await send(dpopRequest(token, hs)), 'invalid_dpop_proof', /algorithm/);
    // FAPI 2.0's list leaves RS256 out.
    const rsa = await newKey('RS256');
    const bound = await mintToken(await calculateJwkThumbprint(rsa.publicJwk));
    const rs256 = await mintProof(bound, { key: rsa, alg: 'RS256' });
    const fapi = policyWith(dpopPolicy({ algorithms: FAPI2_ALGS }));
    await expectDpopRefusal(
      await send(dpopRequest(bound, rs256), fapi),
      'invalid_dpop_proof',
      /algorithm/,
    );
  });

  it('no jwk, a private jwk, or a jwk that did not sign the proof', async () => {
    const token = await mintToken();
    await expectDpopRefusal(
      await send(dpopRequest(token, await mintProof(token, { header: { jwk: undefined } }))),
      'invalid_dpop_proof',
      /jwk/,
    );
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    await expectDpopRefusal(
      await send(dpopRequest(token, await mintProof(token, { header: { jwk: privateJwk } }))),
      'invalid_dpop_proof',
      /public key/,
    );
    // Signed by clientKey, but naming otherKey's public key.
    const wrong = await mintProof(token, { header: { jwk: otherKey.publicJwk } });
    await expectDpopRefusal(
      await send(dpopRequest(token, wrong)),
      'invalid_dpop_proof',
      /signature/,
    );
  });

  it('a valid proof by another key than the one the token is bound to (cnf.jkt)', async () => {
    const token = await mintToken();
    const proof = await mintProof(token, { key: otherKey });
    await expectDpopRefusal(
      await send(dpopRequest(token, proof)),
      'invalid_dpop_proof',
      /key the access token is bound to/,
    );
  });

  it('a proof for another method (htm) or another URL (htu)', async () => {
    const token = await mintToken();
    for (const htm of ['POST', 'get', 'DELETE']) {
      const proof = await mintProof(token, { claims: { htm } });
      await expectDpopRefusal(
        await send(dpopRequest(token, proof)),
        'invalid_dpop_proof',
        /method/,
      );
    }
    for (const htu of [
      'https://app.example/api/other',
      'https://app.example/api/messages/',
      'http://app.example/api/messages',
      'https://evil.example/api/messages',
      'https://app.example:8443/api/messages',
      '/api/messages',
      'not a url',
    ]) {
      const proof = await mintProof(token, { claims: { htu } });
      await expectDpopRefusal(await send(dpopRequest(token, proof)), 'invalid_dpop_proof', /URL/);
    }
  });

  it('iat too old, in the future, or missing; jti, htm, htu missing', async () => {
    const token = await mintToken();
    for (const iat of [now() - 120, now() + 60]) {
      const proof = await mintProof(token, { claims: { iat } });
      await expectDpopRefusal(await send(dpopRequest(token, proof)), 'invalid_dpop_proof', /iat/);
    }
    // A few seconds either way are fine.
    for (const iat of [now() - 50, now() + 3]) {
      const proof = await mintProof(token, { claims: { iat } });
      assert.equal((await send(dpopRequest(token, proof))).status, 200, String(iat - now()));
    }
    for (const claim of ['iat', 'jti', 'htm', 'htu']) {
      const proof = await mintProof(token, { drop: [claim] });
      await expectDpopRefusal(await send(dpopRequest(token, proof)), 'invalid_dpop_proof');
    }
  });

  it('ath missing, or the hash of another token', async () => {
    const token = await mintToken();
    await expectDpopRefusal(
      await send(dpopRequest(token, await mintProof(token, { drop: ['ath'] }))),
      'invalid_dpop_proof',
      /ath/,
    );
    const other = await mintToken();
    await expectDpopRefusal(
      await send(dpopRequest(token, await mintProof(token, { token: other }))),
      'invalid_dpop_proof',
      /ath/,
    );
    assert.equal(
      computeAth('abc'),
      createHash('sha256').update('abc').digest('base64url'),
      'ath = base64url(SHA-256(token))',
    );
  });

  it('the same proof twice: the second is a replay', async () => {
    const token = await mintToken();
    const proof = await mintProof(token);
    const policy = policyWith();
    assert.equal((await send(dpopRequest(token, proof), policy)).status, 200);
    await expectDpopRefusal(
      await send(dpopRequest(token, proof), policy),
      'invalid_dpop_proof',
      /already used/,
    );
    // A new proof with the same token is fine.
    assert.equal((await send(dpopRequest(token, await mintProof(token)), policy)).status, 200);
  });

  it('a refused proof is not recorded: only a proof that passed every check uses its jti', async () => {
    const token = await mintToken();
    const policy = policyWith();
    const jti = randomUUID();
    const wrongUrl = await mintProof(token, {
      claims: { jti, htu: 'https://app.example/api/other' },
    });
    await expectDpopRefusal(await send(dpopRequest(token, wrongUrl), policy), 'invalid_dpop_proof');
    assert.equal(
      (await send(dpopRequest(token, await mintProof(token, { claims: { jti } })), policy)).status,
      200,
    );
  });

  it('a token that is not DPoP-bound, sent with the DPoP scheme → invalid_token', async () => {
    const unbound = await mintToken(null);
    const res = await send(dpopRequest(unbound, await mintProof(unbound)));
    assert.equal(res.status, 401);
    assert.match(
      res.headers.get('www-authenticate') ?? '',
      /^DPoP realm="[^"]+", error="invalid_token"/,
    );
  });

  it('a replay store that cannot decide → 503, never an unchecked acceptance', async () => {
    const token = await mintToken();
    const failing = policyWith(
      dpopPolicy({
        replay: {
          markUsed: () => Promise.reject(new ReplayStoreUnavailableError('down')),
        },
      }),
    );
    const res = await send(dpopRequest(token, await mintProof(token)), failing);
    assert.equal(res.status, 503);
  });
});

describe('DPoP next to Bearer (RFC 9449 §7.2)', () => {
  it('a DPoP-bound token presented as Bearer → 401 invalid_token, and DPoP is announced', async () => {
    const token = await mintToken();
    const res = await send(new Request(URL_API, { headers: { authorization: `Bearer ${token}` } }));
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm="[^"]+", error="invalid_token"/);
    assert.match(challenge, /, DPoP realm="[^"]+", algs="ES256 /);
  });

  it('even with its valid proof attached', async () => {
    const token = await mintToken();
    const res = await send(
      new Request(URL_API, {
        headers: { authorization: `Bearer ${token}`, dpop: await mintProof(token) },
      }),
    );
    assert.equal(res.status, 401);
  });

  it('an anonymous request gets both challenges; a plain API (no DPoP policy) only Bearer', async () => {
    const res = await send(new Request(URL_API));
    assert.equal(res.status, 401);
    assert.equal(
      res.headers.get('www-authenticate'),
      `Bearer realm="${API}", DPoP realm="${API}", algs="${DPOP_PROOF_ALGS.join(' ')}"`,
    );
    const quiet = policyWith(dpopPolicy({ advertised: false }));
    assert.equal(
      (await send(new Request(URL_API), quiet)).headers.get('www-authenticate'),
      `Bearer realm="${API}"`,
    );
    const plain = policyWith(null);
    const token = await mintToken();
    const dpop = await send(dpopRequest(token, await mintProof(token)), plain);
    assert.equal(dpop.status, 401);
    assert.equal(dpop.headers.get('www-authenticate'), `Bearer realm="${API}"`);
  });

  it('DPoP required (FAPI 2.0): a Bearer token without cnf is refused, DPoP comes first', async () => {
    const required = policyWith(dpopPolicy({ required: true }));
    const unbound = await mintToken(null);
    const res = await send(
      new Request(URL_API, { headers: { authorization: `Bearer ${unbound}` } }),
      required,
    );
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /only DPoP-bound/);
    const anonymous = await send(new Request(URL_API), required);
    assert.equal(
      anonymous.headers.get('www-authenticate'),
      `DPoP realm="${API}", algs="${DPOP_PROOF_ALGS.join(' ')}"`,
    );
    const token = await mintToken();
    assert.equal((await send(dpopRequest(token, await mintProof(token)), required)).status, 200);
  });
});

describe('server nonces (RFC 9449 §9)', () => {
  it('demands a nonce with use_dpop_nonce and a DPoP-Nonce header, then accepts it', async () => {
    const nonces = createDpopNonces('n'.repeat(32));
    const policy = policyWith(dpopPolicy({ nonces }));
    const token = await mintToken();
    const first = await send(dpopRequest(token, await mintProof(token)), policy);
    await expectDpopRefusal(first, 'use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce');
    assert.ok(nonce);
    const second = await send(
      dpopRequest(token, await mintProof(token, { claims: { nonce } })),
      policy,
    );
    assert.equal(second.status, 200);
    assert.equal(second.headers.get('dpop-nonce'), nonce, 'the current nonce comes with a 200 too');
    const wrong = await send(
      dpopRequest(token, await mintProof(token, { claims: { nonce: 'x'.repeat(43) } })),
      policy,
    );
    await expectDpopRefusal(wrong, 'use_dpop_nonce');
    // 43 characters but 86 bytes: compared by bytes, so a refusal, never a 500.
    const wide = await send(
      dpopRequest(token, await mintProof(token, { claims: { nonce: 'é'.repeat(43) } })),
      policy,
    );
    await expectDpopRefusal(wide, 'use_dpop_nonce');
  });

  it('nonces are stateless: good for their step and the next, shared by instances with one secret', () => {
    let time = 1_000_000_000_000;
    const a = createDpopNonces('s'.repeat(32), () => time);
    const b = createDpopNonces('s'.repeat(32), () => time);
    const other = createDpopNonces('t'.repeat(32), () => time);
    const nonce = a.current();
    assert.ok(b.check(nonce), 'another instance with the same secret accepts it');
    assert.ok(!other.check(nonce), 'another secret does not');
    time += DPOP_NONCE_STEP_SECONDS * 1000;
    assert.ok(a.check(nonce), 'still good in the next step');
    time += DPOP_NONCE_STEP_SECONDS * 1000;
    assert.ok(!a.check(nonce), 'expired after two steps');
    for (const junk of [undefined, 42, '', 'short', 'x'.repeat(43), 'é'.repeat(43)])
      assert.ok(!a.check(junk));
  });
});

describe('the in-memory replay store', () => {
  it('remembers a key for its lifetime, then forgets it', async () => {
    let time = 0;
    const store = createMemoryReplayStore({ now: () => time });
    assert.equal(await store.markUsed('a', 10), true);
    assert.equal(await store.markUsed('a', 10), false);
    time += 9_999;
    assert.equal(await store.markUsed('a', 10), false);
    time += 2;
    assert.equal(await store.markUsed('a', 10), true, 'expired: usable again');
  });

  it('refuses to decide when full of live keys rather than forget one', async () => {
    let time = 0;
    const store = createMemoryReplayStore({ maxKeys: 3, now: () => time });
    for (const key of ['a', 'b', 'c']) assert.equal(await store.markUsed(key, 10), true);
    await assert.rejects(store.markUsed('d', 10), ReplayStoreUnavailableError);
    time += 10_001;
    assert.equal(await store.markUsed('d', 10), true, 'expired keys make room');
    assert.equal(store.size, 1);
  });
});

describe('GET /api/messages/{id}: same rules, another URL', () => {
  it('a proof made for /api/messages is refused there; one made for it is accepted; an unknown id is 404', async () => {
    const policy = policyWith();
    const one = (id: string, token: string, proof: string) =>
      answerMessageRequest(
        new Request(`${URL_API}/${id}`, {
          headers: { authorization: `DPoP ${token}`, dpop: proof },
        }),
        id,
        (r) => authorizeRequest(r, policy, async () => jwks),
      );
    const token = await mintToken();
    const forList = await mintProof(token);
    await expectDpopRefusal(await one('1', token, forList), 'invalid_dpop_proof', /URL/);
    const forOne = await mintProof(token, { claims: { htu: `${URL_API}/1` } });
    const res = await one('1', token, forOne);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { message: { id: number } }).message.id, 1);
    const missing = await one(
      '9',
      token,
      await mintProof(token, { claims: { htu: `${URL_API}/9` } }),
    );
    assert.equal(missing.status, 404);
  });
});
