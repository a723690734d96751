import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, before, describe, it } from 'node:test';

import {
  compactVerify,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import type { ClientAuth } from 'openid-client';

import { createSelfSignedCertificate } from '../keys/certificate';
import type { AppConfig, AssertionAudience } from './config';
import {
  CLIENT_ASSERTION_TYP,
  createClientAuthentication,
  describeAlgIncompatibility,
  findAudienceOriginProblem,
  JWT_BEARER_ASSERTION_TYPE,
  PREPARED_ASSERTION_MAX_AGE_MS,
  prepareClientAuthentication,
  resolveAudience,
  selectAssertionAlg,
  withPreparedClientAuthentication,
} from './client-assertion';
import {
  configureClockSkew,
  getClockSkew,
  observeProviderResponse,
  resetClockSkew,
} from './clock-skew';
import { ConfigError } from './errors';
import { loadClientKeySet, type ClientKeySet } from './keys';

const as = {
  issuer: 'https://idp.example.com/realms/demo',
  token_endpoint: 'https://idp.example.com/realms/demo/protocol/openid-connect/token',
};
const clientMetadata = { client_id: 'client_using_jwt' };
const defaults: AppConfig['assertion'] = {
  alg: undefined,
  audience: { mode: 'issuer' },
  typ: true,
  x5tSha1: false,
  lifetimeSeconds: 60,
};

const dir = mkdtempSync(join(tmpdir(), 'rp-assertion-'));
let n = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `key-${n++}`);
  writeFileSync(path, content);
  return path;
}

let rsaKey: KeyObject;
let rsa: ClientKeySet;
let ed: ClientKeySet;

before(async () => {
  rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  rsa = await loadClientKeySet(file(rsaKey.export({ type: 'pkcs8', format: 'pem' }) as string));
  ed = await loadClientKeySet(
    file(
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    ),
  );
});

afterEach(() => resetClockSkew());

function authFor(
  keys: ClientKeySet,
  settings: Partial<AppConfig['assertion']> = {},
  skew = 0,
): ClientAuth {
  return createClientAuthentication(
    { ...defaults, ...settings },
    { keys: async () => keys, clockSkew: () => skew },
  );
}

/** Runs the client authentication exactly as openid-client does for a token request. */
async function sign(
  auth: ClientAuth,
  metadata: Record<string, unknown> = as,
): Promise<{ body: URLSearchParams; jwt: string }> {
  const body = new URLSearchParams({ grant_type: 'authorization_code' });
  await auth(metadata as never, clientMetadata as never, body, new Headers());
  const jwt = body.get('client_assertion');
  assert.ok(jwt, 'a client_assertion was added');
  return { body, jwt };
}

async function verify(jwt: string, keys: ClientKeySet): Promise<JWTPayload> {
  const { alg } = decodeProtectedHeader(jwt);
  assert.ok(alg);
  const publicKey = await importJWK(keys.signing.publicJwk, alg);
  return (await jwtVerify(jwt, publicKey, { algorithms: [alg] })).payload;
}

describe('client assertion (private_key_jwt)', () => {
  it('sends the jwt-bearer assertion type and the client_id alongside, and no secret', async () => {
    const { body } = await sign(authFor(rsa));
    assert.equal(body.get('client_assertion_type'), JWT_BEARER_ASSERTION_TYPE);
    assert.equal(body.get('client_id'), 'client_using_jwt');
    assert.equal(body.get('client_secret'), null);
  });

  const ALGS = [
    { alg: 'RS256', type: 'rsa' },
    { alg: 'PS256', type: 'rsa' },
    { alg: 'ES256', type: 'ec' },
    { alg: 'EdDSA', type: 'ed25519' },
    { alg: 'Ed25519', type: 'ed25519' },
  ] as const;
  const AUDIENCES: ReadonlyArray<{ audience: AssertionAudience; expected: string }> = [
    { audience: { mode: 'issuer' }, expected: as.issuer },
    { audience: { mode: 'token_endpoint' }, expected: as.token_endpoint },
    {
      audience: {
        mode: 'url',
        url: 'https://login.example.com/tenant/oauth2/v2.0/token',
        anyOrigin: true,
      },
      expected: 'https://login.example.com/tenant/oauth2/v2.0/token',
    },
  ];

  for (const { alg, type } of ALGS) {
    it(
      `${alg}: the header is alg, kid, typ (+ x5t#S256 with a certificate, and x5t ` +
        `on request) and the claims are iss, sub, aud, iat, nbf, exp, jti, for every ` +
        `aud mode`,
      async () => {
        const key =
          type === 'rsa'
            ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
            : type === 'ec'
              ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
              : generateKeyPairSync('ed25519').privateKey;
        const certificate = await createSelfSignedCertificate(key);
        const plain = await loadClientKeySet(
          file(key.export({ type: 'pkcs8', format: 'pem' }) as string),
          { alg },
        );
        const certified = await loadClientKeySet(
          file(
            `${key.export({ type: 'pkcs8', format: 'pem' }) as string}${certificate.toString()}`,
          ),
          { alg },
        );
        for (const [keys, x5tSha1] of [
          [plain, false],
          [plain, true],
          [certified, false],
          [certified, true],
        ] as const) {
          for (const { audience, expected } of AUDIENCES) {
            const before = Math.floor(Date.now() / 1000);
            const { jwt } = await sign(authFor(keys, { audience, x5tSha1 }));
            const header = decodeProtectedHeader(jwt);
            const certificate = keys.signing.certificate;
            const thumbprints = certificate
              ? {
                  'x5t#S256': certificate.x5tS256,
                  // The SHA-1 thumbprint only when asked for (AD FS); Entra ID reads x5t#S256.
                  ...(x5tSha1 ? { x5t: certificate.x5t } : {}),
                }
              : {};
            assert.deepEqual(header, {
              alg,
              kid: keys.signing.kid,
              typ: CLIENT_ASSERTION_TYP,
              ...thumbprints,
            });
            const payload = await verify(jwt, keys);
            assert.deepEqual(Object.keys(payload).sort(), [
              'aud',
              'exp',
              'iat',
              'iss',
              'jti',
              'nbf',
              'sub',
            ]);
            assert.equal(payload.iss, 'client_using_jwt');
            assert.equal(payload.sub, 'client_using_jwt');
            // One string, never an array: Entra ID refuses two audience values, RFC 10070 wants one.
            assert.equal(payload.aud, expected);
            assert.ok(Math.abs((payload.iat as number) - before) <= 2);
            assert.equal(payload.nbf, payload.iat);
            assert.equal((payload.exp as number) - (payload.iat as number), 60);
            assert.ok(
              Buffer.from(String(payload.jti), 'base64url').length >= 16,
              'jti carries at least 128 bits',
            );
          }
        }
        if (certified.signing.certificate) {
          assert.match(certified.signing.certificate.x5tS256, /^[A-Za-z0-9_-]{43}$/);
          assert.match(certified.signing.certificate.x5t, /^[A-Za-z0-9_-]{27}$/);
        }
      },
    );
  }

  it('fails on a missing token_endpoint only when that audience is configured', () => {
    assert.throws(
      () => resolveAudience({ mode: 'token_endpoint' }, { issuer: as.issuer }),
      /no token_endpoint/,
    );
    assert.equal(resolveAudience({ mode: 'issuer' }, { issuer: as.issuer }), as.issuer);
  });

  it('refuses an audience URL on another origin than the issuer’s or the token endpoint’s, unless forced', () => {
    const entra = {
      issuer: 'https://login.microsoftonline.com/tenant/v2.0',
      token_endpoint: 'https://login.microsoftonline.com/tenant/oauth2/v2.0/token',
    };
    const url = (u: string, anyOrigin = false): AssertionAudience => ({
      mode: 'url',
      url: u,
      anyOrigin,
    });
    assert.equal(findAudienceOriginProblem({ mode: 'issuer' }, entra), undefined);
    assert.equal(findAudienceOriginProblem({ mode: 'token_endpoint' }, entra), undefined);
    assert.equal(
      findAudienceOriginProblem(
        url('https://login.microsoftonline.com/tenant/oauth2/token'),
        entra,
      ),
      undefined,
      'same origin as the issuer',
    );
    const split = {
      issuer: 'https://idp.example.com',
      token_endpoint: 'https://token.example.com/t',
    };
    assert.equal(
      findAudienceOriginProblem(url('https://token.example.com/other'), split),
      undefined,
    );
    for (const foreign of [
      'https://attacker.example/token',
      'https://login.microsoftonline.com.attacker.example/tenant/oauth2/v2.0/token',
      'http://login.microsoftonline.com/tenant/oauth2/v2.0/token',
      'https://login.microsoftonline.com:8443/tenant/oauth2/v2.0/token',
    ]) {
      const problem = findAudienceOriginProblem(url(foreign), entra);
      assert.equal(problem?.variable, 'OIDC_CLIENT_ASSERTION_AUDIENCE', foreign);
      assert.match(problem?.fix ?? '', /OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE=true/);
      assert.equal(findAudienceOriginProblem(url(foreign, true), entra), undefined, 'forced');
    }
  });

  it('omits typ when switched off and applies the configured lifetime', async () => {
    const { jwt } = await sign(authFor(rsa, { typ: false, lifetimeSeconds: 300 }));
    assert.equal(decodeProtectedHeader(jwt).typ, undefined);
    const payload = await verify(jwt, rsa);
    assert.equal((payload.exp as number) - (payload.iat as number), 300);
  });

  it('signs every request with a new jti: 10,000 assertions, 10,000 distinct values of at least 128 bits', async () => {
    const auth = authFor(ed);
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const body = new URLSearchParams();
      await auth(as as never, clientMetadata as never, body, new Headers());
      const [, payload = ''] = (body.get('client_assertion') ?? '').split('.');
      const { jti } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { jti: string };
      assert.ok(Buffer.from(jti, 'base64url').length >= 16);
      seen.add(jti);
    }
    assert.equal(seen.size, 10_000);
  });

  it('signs with the key set current at each request, so a promoted key signs at once', async () => {
    let current = rsa;
    const auth = createClientAuthentication(defaults, {
      keys: async () => current,
      clockSkew: () => 0,
    });
    assert.equal(decodeProtectedHeader((await sign(auth)).jwt).kid, rsa.signing.kid);
    current = ed;
    assert.equal(decodeProtectedHeader((await sign(auth)).jwt).kid, ed.signing.kid);
  });
});

describe('clock-skew correction', () => {
  it('shifts iat, nbf and exp by the skew it is given', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { jwt } = await sign(authFor(rsa, {}, 120));
    await compactVerify(jwt, await importJWK(rsa.signing.publicJwk, 'RS256'));
    const claims = decodeJwt(jwt);
    assert.ok(Math.abs((claims.iat as number) - (now + 120)) <= 2);
    assert.equal(claims.nbf, claims.iat);
    assert.equal(claims.exp, (claims.iat as number) + 60);
  });

  it('applies the offset learned from a token-endpoint Date header to the next assertion', async () => {
    configureClockSkew({ maxSeconds: 300, tokenEndpoint: as.token_endpoint });
    const now = Date.now();
    const ahead = new Headers({ date: new Date(now + 300_000).toUTCString() });
    observeProviderResponse({ method: 'POST', url: as.token_endpoint }, ahead, now, now);
    assert.ok(getClockSkew() >= 298 && getClockSkew() <= 300, `skew ${getClockSkew()}`);
    const auth = createClientAuthentication(defaults, {
      keys: async () => rsa,
      clockSkew: getClockSkew,
    });
    const { jwt } = await sign(auth);
    const claims = decodeJwt(jwt);
    const providerNow = Math.floor(Date.now() / 1000) + 300;
    assert.ok((claims.iat as number) <= providerNow, 'never in the provider’s future');
    assert.ok((claims.iat as number) >= providerNow - 3, 'and close to the provider’s now');
  });
});

describe('algorithm negotiation with the provider metadata', () => {
  it('sends an unnamed Ed25519 key as EdDSA, or as Ed25519 when the provider lists only that', async () => {
    assert.equal(
      decodeProtectedHeader(
        (
          await sign(authFor(ed), {
            ...as,
            token_endpoint_auth_signing_alg_values_supported: ['EdDSA', 'Ed25519'],
          })
        ).jwt,
      ).alg,
      'EdDSA',
    );
    const { jwt } = await sign(authFor(ed), {
      ...as,
      token_endpoint_auth_signing_alg_values_supported: ['ES256', 'Ed25519'],
    });
    assert.equal(decodeProtectedHeader(jwt).alg, 'Ed25519');
    assert.equal((await verify(jwt, ed)).iss, 'client_using_jwt');
    assert.equal(
      decodeProtectedHeader((await sign(authFor(ed))).jwt).alg,
      'EdDSA',
      'no list: the RFC 8037 name',
    );
  });

  it('refuses, before sending anything, an algorithm the provider does not list, and names the fix', async () => {
    const cases: Array<{ keys: () => Promise<ClientKeySet>; supported: string[]; fix: RegExp }> = [
      { keys: async () => rsa, supported: ['PS256', 'ES256'], fix: /OIDC_CLIENT_AUTH_ALG=PS256/ },
      { keys: async () => rsa, supported: ['ES256'], fix: /rotate --alg ES256/ },
      {
        keys: async () => loadClientKeySet(file(JSON.stringify(privateEdDSA()))),
        supported: ['Ed25519'],
        fix: /OIDC_CLIENT_AUTH_ALG=Ed25519/,
      },
    ];
    for (const c of cases) {
      const body = new URLSearchParams();
      const auth = createClientAuthentication(defaults, { keys: c.keys, clockSkew: () => 0 });
      await assert.rejects(
        async () =>
          auth(
            { ...as, token_endpoint_auth_signing_alg_values_supported: c.supported } as never,
            clientMetadata as never,
            body,
            new Headers(),
          ),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.problems[0]?.variable, 'OIDC_CLIENT_AUTH_ALG');
          assert.match(err.message, /provider accepts only/);
          assert.match(err.problems[0]?.fix ?? '', c.fix);
          return true;
        },
      );
      assert.equal(body.get('client_assertion'), null, 'nothing signed');
    }
    assert.equal(selectAssertionAlg({ alg: 'RS256', algDeclared: false }, undefined), 'RS256');
  });

  it('never advises an algorithm the provider does not list (an empty list, or none this client signs)', () => {
    const key = { alg: 'RS256' as const, algDeclared: false, kid: 'k1' };
    const empty = describeAlgIncompatibility(key, []);
    assert.ok(empty);
    assert.match(empty.message, /lists no algorithm/);
    assert.doesNotMatch(empty.fix ?? '', /--alg|OIDC_CLIENT_AUTH_ALG=/);
    assert.match(empty.fix ?? '', /RFC 8414/);
    const foreign = describeAlgIncompatibility(key, ['ES384', 'HS256']);
    assert.ok(foreign);
    assert.match(foreign.message, /provider accepts only ES384, HS256/);
    assert.doesNotMatch(foreign.fix ?? '', /--alg ES256/, 'ES256 is not listed either');
    assert.match(foreign.fix ?? '', /RS256, PS256, ES256, EdDSA, Ed25519/);
    // Where a listed algorithm fits another key type, the advice names it.
    assert.match(describeAlgIncompatibility(key, ['ES384', 'ES256'])?.fix ?? '', /--alg ES256/);
  });
});

describe('client assertion prepared ahead of its request', () => {
  it('the first request within the preparation sends the prepared assertion; a retry signs anew', async () => {
    const auth = authFor(rsa);
    const prepared = prepareClientAuthentication(auth, as as never, clientMetadata as never);
    const made = await prepared.made;
    const early = made.body.get('client_assertion');
    assert.ok(early);
    const [first, retry] = await withPreparedClientAuthentication(prepared, async () => [
      await sign(auth),
      await sign(auth),
    ]);
    assert.equal(first.jwt, early, 'the prepared assertion is the one sent');
    assert.equal(first.body.get('client_assertion_type'), JWT_BEARER_ASSERTION_TYPE);
    assert.equal(first.body.get('client_id'), 'client_using_jwt');
    assert.equal(first.body.get('grant_type'), 'authorization_code', 'the request keeps its own');
    assert.notEqual(retry.jwt, early, 'used once only');
    assert.notEqual(decodeJwt(retry.jwt).jti, decodeJwt(early).jti);
    await verify(first.jwt, rsa);
    // Outside the preparation, every request signs its own.
    assert.notEqual((await sign(auth)).jwt, early);
  });

  it('is used by the client authentication that made it only', async () => {
    const auth = authFor(rsa);
    const other = authFor(rsa);
    const prepared = prepareClientAuthentication(auth, as as never, clientMetadata as never);
    const early = (await prepared.made).body.get('client_assertion');
    const { jwt } = await withPreparedClientAuthentication(prepared, () => sign(other));
    assert.notEqual(jwt, early);
    // Still there for its own.
    const own = await withPreparedClientAuthentication(prepared, () => sign(auth));
    assert.equal(own.jwt, early);
  });

  it('one prepared too long before is not used: a new assertion is signed', async () => {
    const auth = authFor(rsa);
    const prepared = prepareClientAuthentication(auth, as as never, clientMetadata as never);
    const early = (await prepared.made).body.get('client_assertion');
    const stale = { ...prepared, preparedAt: Date.now() - PREPARED_ASSERTION_MAX_AGE_MS - 1 };
    const { jwt } = await withPreparedClientAuthentication(stale, () => sign(auth));
    assert.notEqual(jwt, early);
    await verify(jwt, rsa);
  });

  it('a preparation that fails throws at the request, and never unhandled', async () => {
    const auth = authFor(rsa);
    const refusing = { ...as, token_endpoint_auth_signing_alg_values_supported: ['ES256'] };
    const prepared = prepareClientAuthentication(auth, refusing as never, clientMetadata as never);
    // Nobody awaits it for a while: no unhandled rejection may follow.
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(
      withPreparedClientAuthentication(prepared, () => sign(auth, refusing)),
      ConfigError,
    );
  });
});

/** An Ed25519 private JWK that declares alg EdDSA. */
function privateEdDSA(): Record<string, unknown> {
  return { ...generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }), alg: 'EdDSA' };
}
