import assert from 'node:assert/strict';
import {
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  type JsonWebKey,
} from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { base64url, decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

import { formatBearerChallenge, readBearerCredentials, sanitizeQuotedValue } from './bearer';
import { answerMessagesRequest } from './messages-api';
import { createProviderJwks, type ProviderJwks } from './provider-jwks';
import { authorizeRequest, type ResourceServerPolicy } from './resource-server';
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
 * The protected API against everything a caller can send: each bad input of the issue one by one,
 * and the rules of RFC 6750 (status, challenge) and RFC 9068 §4 (what a valid token is).
 *
 * The "provider" here is a key pair whose public half a local HTTP server publishes as a JWKS, so
 * that every claim can be set at will; the same checks run against real tokens of the bundled
 * provider in client-credentials.test.ts.
 */

const REALM = API;

async function newKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const jwksServer = new JwksServer();
let opKey: Key;
let opKey2: Key;
let attackerKey: Key;
let jwks: ProviderJwks;

const policy: ResourceServerPolicy = {
  issuer: ISSUER,
  audience: API,
  requiredScope: 'api1',
  realm: REALM,
};

before(async () => {
  opKey = await newKey('op-1');
  opKey2 = await newKey('op-2', 'ES256');
  attackerKey = await newKey('attacker-1');
  jwksServer.keys = [opKey.publicJwk];
  await jwksServer.start();
  jwks = createProviderJwks(jwksServer.url, 2000);
});

after(() => jwksServer.stop());

/** The claims of an access token (RFC 9068 §2.2) the provider issues for this API, now. */
function accessTokenClaims(): Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: CLIENT_ID,
    aud: API,
    client_id: CLIENT_ID,
    scope: 'api1',
    jti: randomUUID(),
    iat: now(),
    exp: now() + 300,
  };
}

/** A JWT access token (RFC 9068 §2) as the provider issues it, with overrides. */
async function mint(
  options: {
    header?: Record<string, unknown>;
    payload?: Record<string, unknown>;
    key?: Key;
    drop?: string[];
  } = {},
): Promise<string> {
  const payload: Record<string, unknown> = { ...accessTokenClaims(), ...options.payload };
  for (const claim of options.drop ?? []) delete payload[claim];
  const key = options.key ?? opKey;
  return new SignJWT(payload as JWTPayload)
    .setProtectedHeader({
      alg: String(key.publicJwk.alg),
      typ: 'at+jwt',
      kid: String(key.publicJwk.kid),
      ...options.header,
    } as { alg: string })
    .sign(key.privateKey);
}

function request(authorization?: string, query = ''): Request {
  return new Request(`${URL_API}${query}`, {
    headers: authorization === undefined ? {} : { authorization },
  });
}

function send(
  req: Request,
  p: ResourceServerPolicy = policy,
  keys: ProviderJwks = jwks,
): Promise<Response> {
  return answerMessagesRequest(req, (r) => authorizeRequest(r, p, async () => keys));
}

type Expected = { status: number; error?: string; description?: RegExp };

/** The answer, checked against RFC 6750 §3: status, a Bearer challenge with realm, the error. */
async function expectRefusal(req: Request, expected: Expected): Promise<Response> {
  const res = await send(req);
  assert.equal(res.status, expected.status);
  assert.equal(res.headers.get('cache-control'), 'no-store, no-transform');
  const challenge = res.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer realm="https:\/\/app\.example\/api"/);
  if (expected.error) {
    assert.match(challenge, new RegExp(`, error="${expected.error}"`));
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(body.error, expected.error);
    if (expected.description) assert.match(body.error_description, expected.description);
    // RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E only.
    const description = /error_description="([^"]*)"/.exec(challenge)?.[1] ?? '';
    assert.match(description, /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/);
    if (expected.description) assert.match(description, expected.description);
  } else {
    assert.equal(
      challenge,
      `Bearer realm="${REALM}"`,
      'RFC 6750 §3.1: no error information without credentials',
    );
    assert.equal(await res.text(), '');
  }
  return res;
}

describe('GET /api/messages: bad input, one by one', () => {
  it('no Authorization header → 401, bare challenge, and no request to the provider', async () => {
    const before = jwksServer.fetches;
    await expectRefusal(request(), { status: 401 });
    assert.equal(jwksServer.fetches, before);
  });

  it('Basic scheme → 401, bare challenge (an unsupported method, RFC 6750 §3.1)', async () => {
    await expectRefusal(request(`Basic ${Buffer.from(`${CLIENT_ID}:secret`).toString('base64')}`), {
      status: 401,
    });
    await expectRefusal(request('Digest username="a", realm="b"'), { status: 401 });
  });

  it('an empty token → 401 invalid_token', async () => {
    for (const header of ['Bearer', 'Bearer ', 'bearer    ']) {
      await expectRefusal(request(header), {
        status: 401,
        error: 'invalid_token',
        description: /empty/,
      });
    }
  });

  it('garbage → 401 invalid_token, without fetching the provider keys', async () => {
    const before = jwksServer.fetches;
    const garbage = [
      'garbage',
      'a.b.c',
      'eyJhbGciOiJSUzI1NiJ9',
      'x'.repeat(9000),
      '<script>alert(1)</script>',
      'abc def',
      'ä',
      '....',
      `${base64url.encode('{"alg":')}.e30.sig`,
    ];
    for (const token of garbage) {
      await expectRefusal(request(`Bearer ${token}`), { status: 401, error: 'invalid_token' });
    }
    assert.equal(jwksServer.fetches, before);
  });

  it('a token signed by another key → 401 invalid_token (same kid, unknown kid, no kid)', async () => {
    await expectRefusal(
      request(`Bearer ${await mint({ key: attackerKey, header: { kid: 'op-1' } })}`),
      {
        status: 401,
        error: 'invalid_token',
        description: /signature is invalid/,
      },
    );
    await expectRefusal(request(`Bearer ${await mint({ key: attackerKey })}`), {
      status: 401,
      error: 'invalid_token',
      description: /key the issuer does not publish/,
    });
    await expectRefusal(
      request(`Bearer ${await mint({ key: attackerKey, header: { kid: undefined } })}`),
      { status: 401, error: 'invalid_token' },
    );
  });

  it('a token signed by a published RSA key under 2048 bits → 401 invalid_token, not 503', async () => {
    // RFC 7518 §3.3: RS256 keys MUST be 2048 bits or larger; jose refuses the key (a TypeError).
    // The keys were fetched: the token does not verify, the provider is not unreachable.
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const server = new JwksServer();
    server.keys = [{ ...weak.publicKey.export({ format: 'jwk' }), kid: 'weak-1', alg: 'RS256' }];
    await server.start();
    try {
      const encode = (value: object) => base64url.encode(JSON.stringify(value));
      // Signed by hand: jose refuses to sign with such a key, as it refuses to verify.
      const header = encode({ alg: 'RS256', typ: 'at+jwt', kid: 'weak-1' });
      const input = `${header}.${encode(accessTokenClaims())}`;
      const signature = base64url.encode(sign('sha256', Buffer.from(input), weak.privateKey));
      const res = await send(
        request(`Bearer ${input}.${signature}`),
        policy,
        createProviderJwks(server.url, 2000),
      );
      assert.equal(server.fetches, 1, 'the keys were fetched');
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    } finally {
      server.stop();
    }
  });

  it('alg none → 401 invalid_token, before any key is looked up', async () => {
    const before = jwksServer.fetches;
    const signed = await mint();
    const [, payload] = signed.split('.');
    for (const alg of ['none', 'None', 'NONE']) {
      const header = base64url.encode(JSON.stringify({ alg, typ: 'at+jwt', kid: 'op-1' }));
      await expectRefusal(request(`Bearer ${header}.${payload}.`), {
        status: 401,
        error: 'invalid_token',
        description: /algorithm/,
      });
    }
    assert.equal(jwksServer.fetches, before);
  });

  it('HS256 keyed with the provider’s public key (algorithm confusion) → 401 invalid_token', async () => {
    const secret = createPublicKey({ key: opKey.publicJwk as JsonWebKey, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const token = await new SignJWT({
      iss: ISSUER,
      sub: CLIENT_ID,
      aud: API,
      client_id: CLIENT_ID,
      scope: 'api1',
      jti: 'j',
      iat: now(),
      exp: now() + 60,
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'op-1' })
      .sign(Buffer.from(secret));
    await expectRefusal(request(`Bearer ${token}`), {
      status: 401,
      error: 'invalid_token',
      description: /algorithm/,
    });
  });

  it('expired → 401 invalid_token', async () => {
    await expectRefusal(
      request(`Bearer ${await mint({ payload: { iat: now() - 400, exp: now() - 60 } })}`),
      {
        status: 401,
        error: 'invalid_token',
        description: /expired/,
      },
    );
  });

  it('wrong audience → 401 invalid_token (another API, the client itself, none)', async () => {
    for (const aud of [
      'https://other.example/api',
      CLIENT_ID,
      [CLIENT_ID, 'https://other.example/api'],
      `${API}/`,
    ]) {
      await expectRefusal(request(`Bearer ${await mint({ payload: { aud } })}`), {
        status: 401,
        error: 'invalid_token',
        description: /not for this API/,
      });
    }
    await expectRefusal(request(`Bearer ${await mint({ drop: ['aud'] })}`), {
      status: 401,
      error: 'invalid_token',
    });
  });

  it('wrong issuer → 401 invalid_token', async () => {
    for (const iss of ['https://evil.example', `${ISSUER}/`, 'https://OP.example']) {
      await expectRefusal(request(`Bearer ${await mint({ payload: { iss } })}`), {
        status: 401,
        error: 'invalid_token',
        description: /issuer/,
      });
    }
  });

  it('no api1 scope → 403 insufficient_scope with scope="api1"', async () => {
    for (const payload of [
      { scope: 'api2' },
      { scope: 'api10' },
      { scope: 'openid api1x' },
      { scope: '' },
      {},
    ]) {
      const token = await mint({ payload, drop: 'scope' in payload ? [] : ['scope'] });
      const res = await expectRefusal(request(`Bearer ${token}`), {
        status: 403,
        error: 'insufficient_scope',
        description: /api1/,
      });
      assert.match(res.headers.get('www-authenticate') ?? '', /, scope="api1"$/);
    }
  });

  it('a sender-constrained (DPoP or mTLS) token presented as Bearer → 401 invalid_token', async () => {
    for (const cnf of [
      { jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' },
      { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' },
    ]) {
      await expectRefusal(request(`Bearer ${await mint({ payload: { cnf } })}`), {
        status: 401,
        error: 'invalid_token',
        description: /sender-constrained/,
      });
    }
  });

  it('an ID token instead of an access token → 401 invalid_token, even when signed by the provider', async () => {
    // What the provider signs at sign-in: no typ, aud = the client, a user's sub.
    const idToken = await new SignJWT({
      iss: ISSUER,
      sub: 'alice',
      aud: CLIENT_ID,
      nonce: 'n',
      auth_time: now(),
      iat: now(),
      exp: now() + 300,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'op-1' })
      .sign(opKey.privateKey);
    await expectRefusal(request(`Bearer ${idToken}`), {
      status: 401,
      error: 'invalid_token',
      description: /typ must be at\+jwt/,
    });
    // Even one that names this API and its scope: only the explicit type makes a JWT an access token.
    for (const typ of [undefined, 'JWT', 'id_token+jwt', 'application/jwt']) {
      const lookalike = await mint({ header: { typ } });
      await expectRefusal(request(`Bearer ${lookalike}`), {
        status: 401,
        error: 'invalid_token',
        description: /typ/,
      });
    }
  });
});

describe('GET /api/messages: what is accepted', () => {
  it('a valid access token → 200 with the messages and who called, no-store', async () => {
    const token = await mint();
    const res = await send(request(`Bearer ${token}`));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store, no-transform');
    assert.equal(res.headers.get('www-authenticate'), null);
    const body = (await res.json()) as {
      messages: unknown[];
      caller: Record<string, string>;
      token: Record<string, unknown>;
    };
    assert.ok(body.messages.length > 0);
    assert.deepEqual(body.caller, { client_id: CLIENT_ID, sub: CLIENT_ID, scope: 'api1' });
    // The presented token's iat and exp (so a refresh is visible), never the token itself.
    const { iat, exp } = decodeJwt(token);
    assert.deepEqual(body.token, { iat, exp });
    assert.ok(!JSON.stringify(body).includes(token.split('.')[2] ?? token));
  });

  it('accepts typ application/at+jwt and any case; the scheme in any case; more scopes; aud in an array', async () => {
    for (const typ of ['application/at+jwt', 'AT+JWT', 'Application/At+Jwt']) {
      assert.equal(
        (await send(request(`Bearer ${await mint({ header: { typ } })}`))).status,
        200,
        typ,
      );
    }
    for (const scheme of ['bearer', 'BEARER', 'Bearer  ']) {
      assert.equal((await send(request(`${scheme} ${await mint()}`))).status, 200, scheme);
    }
    assert.equal(
      (await send(request(`Bearer ${await mint({ payload: { scope: 'openid api1 api2' } })}`)))
        .status,
      200,
    );
    assert.equal(
      (
        await send(
          request(`Bearer ${await mint({ payload: { aud: ['https://other.example', API] } })}`),
        )
      ).status,
      200,
    );
  });

  it('tolerates a few seconds of clock difference, not more', async () => {
    assert.equal(
      (await send(request(`Bearer ${await mint({ payload: { exp: now() - 3 } })}`))).status,
      200,
    );
    assert.equal(
      (await send(request(`Bearer ${await mint({ payload: { nbf: now() + 3 } })}`))).status,
      200,
    );
    await expectRefusal(request(`Bearer ${await mint({ payload: { nbf: now() + 120 } })}`), {
      status: 401,
      error: 'invalid_token',
      description: /not valid yet/,
    });
  });

  it('refuses tokens without the claims RFC 9068 §2.2 requires', async () => {
    for (const claim of ['client_id', 'jti', 'iat', 'exp', 'sub', 'iss']) {
      await expectRefusal(request(`Bearer ${await mint({ drop: [claim] })}`), {
        status: 401,
        error: 'invalid_token',
      });
    }
    await expectRefusal(request(`Bearer ${await mint({ payload: { scope: ['api1'] } })}`), {
      status: 401,
      error: 'invalid_token',
      description: /scope/,
    });
  });
});

describe('GET /api/messages: malformed requests (RFC 6750 §2, §3.1)', () => {
  it('a token in the query and in the header → 400 invalid_request', async () => {
    const token = await mint();
    await expectRefusal(request(`Bearer ${token}`, `?access_token=${token}`), {
      status: 400,
      error: 'invalid_request',
      description: /one way/,
    });
  });

  it('a repeated Authorization header, merged with a comma → 400 invalid_request', async () => {
    const token = await mint();
    const headers = new Headers();
    headers.append('authorization', `Bearer ${token}`);
    headers.append('authorization', `Bearer ${token}`);
    await expectRefusal(new Request(URL_API, { headers }), {
      status: 400,
      error: 'invalid_request',
    });
  });

  it('a token only in the query (unsupported method) → 401 with a bare challenge', async () => {
    await expectRefusal(request(undefined, `?access_token=${await mint()}`), { status: 401 });
  });

  it('never fails with anything but 400/401/403 on random headers', async (t) => {
    t.mock.method(console, 'log', () => undefined); // 1,600 refusals would drown the test output
    const alphabet = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~éñ\u00ff';
    const valid = await mint();
    const statuses = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const bytes = randomBytes(1 + (i % 60));
      const noise = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
      const variants = [
        `Bearer ${noise}`,
        noise,
        `Bearer ${valid.slice(0, i % valid.length)}${noise.trim()}`,
        `Bearer ${valid.replace(/\./g, i % 2 ? '..' : '')}`,
      ];
      for (const header of variants) {
        let req: Request;
        try {
          req = request(header);
        } catch {
          continue; // not a valid header value at all: Node's HTTP parser would have refused it
        }
        const res = await send(req);
        statuses.add(res.status);
        assert.ok(
          [400, 401, 403].includes(res.status),
          `${res.status} for ${JSON.stringify(header)}`,
        );
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="/);
      }
    }
    assert.ok(statuses.has(401));
  });
});

describe('the provider keys: cached, refetched on an unknown kid with a cooldown', () => {
  it('verifies many tokens with one JWKS fetch', async () => {
    const keys = createProviderJwks(jwksServer.url, 2000);
    const before = jwksServer.fetches;
    for (let i = 0; i < 25; i++)
      assert.equal((await send(request(`Bearer ${await mint()}`), policy, keys)).status, 200);
    assert.equal(jwksServer.fetches - before, 1);
  });

  it('refetches once for unknown kids within the cooldown, then no more (junk cannot flood the provider)', async () => {
    const keys = createProviderJwks(jwksServer.url, 2000);
    assert.equal((await send(request(`Bearer ${await mint()}`), policy, keys)).status, 200);
    const before = jwksServer.fetches;
    for (let i = 0; i < 10; i++) {
      const res = await send(
        request(`Bearer ${await mint({ header: { kid: `junk-${i}` } })}`),
        policy,
        keys,
      );
      assert.equal(res.status, 401);
    }
    assert.equal(jwksServer.fetches, before + 1);
  });

  it('picks up a key the provider published since (rotation), once the cooldown has passed', async () => {
    const keys = createProviderJwks(jwksServer.url, 2000, { cooldownMs: 0 });
    assert.equal((await send(request(`Bearer ${await mint()}`), policy, keys)).status, 200);
    jwksServer.keys = [opKey.publicJwk, opKey2.publicJwk];
    try {
      const before = jwksServer.fetches;
      assert.equal(
        (await send(request(`Bearer ${await mint({ key: opKey2 })}`), policy, keys)).status,
        200,
      );
      assert.equal(jwksServer.fetches - before, 1);
    } finally {
      jwksServer.keys = [opKey.publicJwk];
    }
  });

  it('answers 503, not 401, when the keys cannot be fetched; no-header requests still get 401', async () => {
    const down = createProviderJwks('http://127.0.0.1:9/jwks', 1000);
    const res = await send(request(`Bearer ${await mint()}`), policy, down);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('www-authenticate'), null);
    const unreachable = async () => {
      throw new Error('provider down');
    };
    assert.equal(
      (
        await answerMessagesRequest(request(`Bearer ${await mint()}`), (r) =>
          authorizeRequest(r, policy, unreachable),
        )
      ).status,
      503,
    );
    assert.equal(
      (await answerMessagesRequest(request(), (r) => authorizeRequest(r, policy, unreachable)))
        .status,
      401,
    );
    // Junk is refused before the keys are needed.
    assert.equal(
      (
        await answerMessagesRequest(request('Bearer junk'), (r) =>
          authorizeRequest(r, policy, unreachable),
        )
      ).status,
      401,
    );
  });
});

describe('bearer header syntax', () => {
  it('reads one b64token from the Authorization header only', () => {
    const url = new URL(URL_API);
    assert.deepEqual(readBearerCredentials('Bearer abc-._~+/==', url), {
      kind: 'token',
      token: 'abc-._~+/==',
    });
    assert.equal(readBearerCredentials('Bearer a=b', url).kind, 'invalid_token');
    assert.equal(readBearerCredentials(null, url).kind, 'none');
    assert.equal(readBearerCredentials('Bearerabc', url).kind, 'none');
    assert.equal(readBearerCredentials('Bearer\tabc', url).kind, 'none');
  });

  it('formats challenges that cannot break out of their quotes', () => {
    assert.equal(
      formatBearerChallenge({
        realm: 'r',
        error: 'insufficient_scope',
        error_description: 'needs "api1" \\ now\r\nSet-Cookie: x',
        scope: 'api1',
      }),
      `Bearer realm="r", error="insufficient_scope", error_description="needs 'api1' ` +
        `? now??Set-Cookie: x", scope="api1"`,
    );
    assert.equal(sanitizeQuotedValue('é"\\'), "?'?");
  });
});
