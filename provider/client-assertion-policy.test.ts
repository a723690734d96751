import assert from 'node:assert/strict';
import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
  type X509Certificate,
} from 'node:crypto';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { calculateJwkThumbprint, SignJWT, UnsecuredJWT, type JWK, type JWTPayload } from 'jose';

import { createSelfSignedCertificate } from '../keys/certificate';
import { findFreePort } from '../scripts/processes';
import { registerCertificate, type ClientRegistration } from './client-registration';
import { driveSignIn } from './drive-sign-in';
import { settingsFromEnv, startProvider } from './index';

/**
 * The bundled provider's rejection suite: crafted client assertions posted to its token endpoint.
 * Each must end in `401 invalid_client` with an `error_description` that says what is wrong; the
 * correct assertion must be accepted. The provider runs in this process (no browser).
 *
 * The rejected requests carry a made-up authorization code: oidc-provider authenticates the client
 * before it looks at the grant, so an accepted assertion answers `invalid_grant` instead of
 * `invalid_client` — the control that shows each rejection is the assertion's fault.
 */

const CLIENT_ID = 'client_using_jwt';
const APP_URL = 'http://localhost:3999';
const REDIRECT_URI = `${APP_URL}/auth/callback`;

type Running = { issuer: string; tokenEndpoint: string; server: Server };

/** A provider for `registration`; `env`: more of its settings (PROVIDER_PROFILE, …). */
async function start(
  registration: ClientRegistration,
  audience: 'issuer' | 'legacy' = 'issuer',
  env: Record<string, string> = {},
): Promise<Running> {
  const issuer = `http://localhost:${await findFreePort()}`;
  const settings = {
    ...(await settingsFromEnv({
      NODE_ENV: 'test',
      PROVIDER_ISSUER: issuer,
      APP_URL,
      PROVIDER_CLIENT_JWKS_URI: 'http://unused.invalid/',
      ...env,
    })),
    registration,
    assertionAudience: audience,
  };
  const { server } = await startProvider(settings);
  return { issuer, tokenEndpoint: `${issuer}/token`, server };
}

function stop(running: Running | undefined): void {
  running?.server.close();
  running?.server.closeAllConnections();
}

let clientKey: KeyObject;
let clientJwk: JWK & { kid: string };
let otherKey: KeyObject;
let certificate: X509Certificate;
let strict: Running;
let legacy: Running;
let certified: Running;

before(async () => {
  clientKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const publicJwk = clientKey.export({ format: 'jwk' }) as JWK;
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = publicJwk;
  clientJwk = {
    ...pub,
    kid: await calculateJwkThumbprint(pub, 'sha256'),
    alg: 'RS256',
    use: 'sig',
  };
  certificate = await createSelfSignedCertificate(clientKey);
  strict = await start({ mode: 'jwks', jwks: { keys: [clientJwk] } });
  legacy = await start({ mode: 'jwks', jwks: { keys: [clientJwk] } }, 'legacy');
  certified = await start({
    mode: 'certificate',
    certificates: [await registerCertificate(certificate)],
  });
});

after(() => {
  stop(strict);
  stop(legacy);
  stop(certified);
});

const now = () => Math.floor(Date.now() / 1000);

/** The claims of a correct assertion for `running`. */
function claims(running: Running, overrides: JWTPayload = {}): JWTPayload {
  const iat = now();
  return {
    iss: CLIENT_ID,
    sub: CLIENT_ID,
    aud: running.issuer,
    iat,
    nbf: iat,
    exp: iat + 60,
    jti: randomBytes(32).toString('base64url'),
    ...overrides,
  };
}

/** Signs `payload` with the registered key (or `key`), RS256, with kid and the RFC 10070 typ. */
function sign(
  payload: JWTPayload,
  header: Record<string, unknown> = {},
  key: KeyObject = clientKey,
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({
      alg: 'RS256',
      kid: clientJwk.kid,
      typ: 'client-authentication+jwt',
      ...header,
    })
    .sign(key);
}

/** Removes undefined members (a claim left out). */
function without(payload: JWTPayload, ...names: string[]): JWTPayload {
  return Object.fromEntries(Object.entries(payload).filter(([name]) => !names.includes(name)));
}

type TokenResponse = {
  status: number;
  body: { error?: string; error_description?: string; id_token?: string };
};

/** Posts a token request; `extra` adds or replaces parameters (an empty value removes one). */
async function postToken(
  running: Running,
  assertion: string,
  extra: Record<string, string> = {},
): Promise<TokenResponse> {
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: 'made-up-code',
    redirect_uri: REDIRECT_URI,
    code_verifier: 'v'.repeat(43),
    client_id: CLIENT_ID,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
    ...extra,
  });
  for (const [name, value] of Object.entries(extra)) if (value === '') body.delete(name);
  const response = await fetch(running.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
  });
  return { status: response.status, body: (await response.json()) as TokenResponse['body'] };
}

async function assertRejected(
  running: Running,
  assertion: string,
  description: RegExp,
  extra?: Record<string, string>,
): Promise<void> {
  const { status, body } = await postToken(running, assertion, extra);
  assert.equal(status, 401, JSON.stringify(body));
  assert.equal(body.error, 'invalid_client');
  assert.match(body.error_description ?? '', /^client authentication failed: /);
  assert.match(body.error_description ?? '', description);
}

async function assertAuthenticated(running: Running, assertion: string): Promise<void> {
  const { status, body } = await postToken(running, assertion);
  assert.equal(
    body.error,
    'invalid_grant',
    `client authentication passed, only the made-up code failed: ${JSON.stringify(body)}`,
  );
  assert.equal(status, 400);
}

describe('the bundled provider refuses bad client assertions with 401 invalid_client', () => {
  it('control: a correct assertion passes client authentication', async () => {
    await assertAuthenticated(strict, await sign(claims(strict)));
  });

  it('alg: none', async () => {
    await assertRejected(strict, new UnsecuredJWT(claims(strict)).encode(), /alg/);
  });

  it('HS256 signed with the registered public key as the HMAC secret (algorithm confusion)', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(clientJwk));
    const confused = await new SignJWT(claims(strict))
      .setProtectedHeader({ alg: 'HS256', kid: clientJwk.kid })
      .sign(secret);
    await assertRejected(strict, confused, /alg/);
    const pemSecret = new TextEncoder().encode(
      clientKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    );
    await assertRejected(
      strict,
      await new SignJWT(claims(strict)).setProtectedHeader({ alg: 'HS256' }).sign(pemSecret),
      /alg/,
    );
  });

  it('a signature from a key that is not registered', async () => {
    await assertRejected(
      strict,
      await sign(claims(strict), {}, otherKey),
      /signature verification failed/,
    );
  });

  it('an unknown kid', async () => {
    await assertRejected(
      strict,
      await sign(claims(strict), { kid: 'not-a-registered-kid' }),
      /no applicable key found/,
    );
  });

  it('an expired assertion', async () => {
    const iat = now() - 600;
    await assertRejected(
      strict,
      await sign(claims(strict, { iat, nbf: iat, exp: iat + 60 })),
      /expired/,
    );
  });

  it('exp too far ahead', async () => {
    await assertRejected(
      strict,
      await sign(claims(strict, { exp: now() + 3600 })),
      /exp is \d+ s ahead; a client assertion may live at most 300 s/,
    );
  });

  it('iat in the future beyond the tolerance', async () => {
    const payload = without(claims(strict, { iat: now() + 60, exp: now() + 120 }), 'nbf');
    await assertRejected(strict, await sign(payload), /iat is \d+ s in the future/);
  });

  it('a missing jti', async () => {
    await assertRejected(strict, await sign(without(claims(strict), 'jti')), /jti/);
  });

  it('a replayed jti', async () => {
    const assertion = await sign(claims(strict));
    await assertAuthenticated(strict, assertion);
    await assertRejected(strict, assertion, /must only be used once/);
    // One memory for every endpoint that authenticates the client: the PAR endpoint too.
    const par = await fetch(`${strict.issuer}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        client_id: CLIENT_ID,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: REDIRECT_URI,
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGrSstw-cM',
        code_challenge_method: 'S256',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    const refused = (await par.json()) as TokenResponse['body'];
    assert.equal(par.status, 401, JSON.stringify(refused));
    assert.match(refused.error_description ?? '', /must only be used once/);
  });

  it('a replayed jti, after anyone has filled the provider’s memory with other records', async () => {
    // oidc-provider's default store keeps 1,000 to 2,000 records of every kind together (an
    // LRU): an unauthenticated client that starts authorization requests (one Interaction
    // record each) would push the jti out before the assertion expires, and the replay pass.
    const assertion = await sign(claims(strict));
    await assertAuthenticated(strict, assertion);
    const authorize = new URL(`${strict.issuer}/auth`);
    for (let i = 0; i < 2_100; i++) {
      authorize.search = new URLSearchParams({
        client_id: CLIENT_ID,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: REDIRECT_URI,
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGrSstw-cM',
        code_challenge_method: 'S256',
        state: String(i),
      }).toString();
      const response = await fetch(authorize, { redirect: 'manual' });
      await response.body?.cancel();
      assert.equal(response.status, 303);
    }
    await assertRejected(strict, assertion, /must only be used once/);
  });

  it('iss ≠ sub', async () => {
    await assertRejected(
      strict,
      await sign(claims(strict, { sub: 'another-client' })),
      /sub "another-client" is not the client_id "client_using_jwt"/,
    );
    await assertRejected(
      strict,
      await sign(claims(strict, { iss: 'another-client' })),
      /iss \(JWT issuer\) must be the client_id/,
    );
  });

  it('iss ≠ client_id', async () => {
    const other = claims(strict, { iss: 'another-client', sub: 'another-client' });
    await assertRejected(
      strict,
      await sign(other),
      /sub "another-client" is not the client_id "client_using_jwt"/,
    );
    // Without a client_id parameter the provider looks the client up by sub: there is none.
    await assertRejected(strict, await sign(other), /client not found/, { client_id: '' });
  });

  it('aud = the token endpoint URL (strict RFC 10070 mode)', async () => {
    await assertRejected(
      strict,
      await sign(claims(strict, { aud: strict.tokenEndpoint })),
      /aud is the token endpoint URL; RFC 10070 requires the issuer identifier/,
    );
  });

  it('aud with an extra value', async () => {
    await assertRejected(
      strict,
      await sign(claims(strict, { aud: [strict.issuer, 'https://other.example.com'] })),
      /sole value.*has 2 values/,
    );
    await assertRejected(
      strict,
      await sign(claims(strict, { aud: [strict.issuer, strict.tokenEndpoint] })),
      /sole value/,
    );
  });

  it('a client_secret sent alongside', async () => {
    await assertRejected(strict, await sign(claims(strict)), /client_secret must not be sent/, {
      client_secret: 'a-secret',
    });
  });

  it('a typ naming another kind of JWT', async () => {
    await assertRejected(
      strict,
      await sign(claims(strict), { typ: 'dpop+jwt' }),
      /typ "dpop\+jwt" names another kind of JWT/,
    );
  });
});

describe('the bundled provider accepts correct client assertions', () => {
  async function codeFor(running: Running): Promise<{ code: string; verifier: string }> {
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${running.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: REDIRECT_URI,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: randomBytes(16).toString('base64url'),
      nonce: randomBytes(16).toString('base64url'),
    }).toString();
    const callback = await driveSignIn(url, {
      login: 'alice',
      password: 'alice-password',
      redirectUri: REDIRECT_URI,
    });
    const code = callback.searchParams.get('code');
    assert.ok(code, callback.href);
    return { code, verifier };
  }

  it('redeems a code with a correct assertion (aud = the issuer as a string) and issues an ID token', async () => {
    const { code, verifier } = await codeFor(strict);
    const { status, body } = await postToken(strict, await sign(claims(strict)), {
      code,
      code_verifier: verifier,
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.ok(body.id_token);
  });

  it('accepts aud as an array holding only the issuer, and an untyped assertion', async () => {
    await assertAuthenticated(strict, await sign(claims(strict, { aud: [strict.issuer] })));
    await assertAuthenticated(strict, await sign(claims(strict), { typ: undefined }));
  });

  it('legacy mode also accepts the token endpoint URL, and nothing else', async () => {
    await assertAuthenticated(legacy, await sign(claims(legacy, { aud: legacy.tokenEndpoint })));
    await assertAuthenticated(legacy, await sign(claims(legacy)));
    await assertRejected(
      legacy,
      await sign(claims(legacy, { aud: `${legacy.issuer}/other` })),
      /audience \(aud\) must equal/,
    );
  });
});

describe('a client registered with an X.509 certificate', () => {
  const thumbprint = (algorithm: 'sha256' | 'sha1', cert: X509Certificate) =>
    createHash(algorithm).update(cert.raw).digest('base64url');

  it('authenticates with the certificate named by x5t#S256 (and x5t)', async () => {
    await assertAuthenticated(
      certified,
      await sign(claims(certified), {
        'x5t#S256': thumbprint('sha256', certificate),
        x5t: thumbprint('sha1', certificate),
      }),
    );
    await assertAuthenticated(
      certified,
      await sign(claims(certified), { x5t: thumbprint('sha1', certificate) }),
    );
  });

  it('refuses an assertion that names no certificate, or another one', async () => {
    await assertRejected(
      certified,
      await sign(claims(certified)),
      /registered with a certificate: the header must name it by x5t#S256/,
    );
    const other = await createSelfSignedCertificate(otherKey);
    await assertRejected(
      certified,
      await sign(claims(certified), { 'x5t#S256': thumbprint('sha256', other) }),
      /is not registered for this client/,
    );
    await assertRejected(
      certified,
      await sign(claims(certified), { 'x5t#S256': thumbprint('sha256', other) }, otherKey),
      /no applicable key|signature verification failed|not registered/,
    );
  });

  it('with several certificates registered, ties the signature to the named certificate by kid', async () => {
    const other = await createSelfSignedCertificate(otherKey);
    const both = await start({
      mode: 'certificate',
      certificates: [await registerCertificate(certificate), await registerCertificate(other)],
    });
    try {
      // Signed by the first certificate's key while naming the second: refused, with or without kid.
      await assertRejected(
        both,
        await sign(claims(both), { kid: undefined, 'x5t#S256': thumbprint('sha256', other) }),
        /must name the key by kid/,
      );
      await assertRejected(
        both,
        await sign(claims(both), { 'x5t#S256': thumbprint('sha256', other) }),
        /not with the key of the certificate it names/,
      );
      await assertAuthenticated(
        both,
        await sign(claims(both), { 'x5t#S256': thumbprint('sha256', certificate) }),
      );
    } finally {
      stop(both);
    }
  });
});

describe('under PROVIDER_PROFILE=fapi2', () => {
  /** A provider in FAPI 2.0 mode whose client signs PS256 with `clientKey`. */
  function startFapi2(env: Record<string, string> = {}): Promise<Running> {
    return start({ mode: 'jwks', jwks: { keys: [{ ...clientJwk, alg: 'PS256' }] } }, 'issuer', {
      PROVIDER_PROFILE: 'fapi2',
      ...env,
    });
  }

  const signPs256 = (payload: JWTPayload) => sign(payload, { alg: 'PS256' });

  it('refuses aud as an array, even of the issuer alone; accepts it as a string', async () => {
    const fapi2 = await startFapi2();
    try {
      await assertAuthenticated(fapi2, await signPs256(claims(fapi2)));
      await assertRejected(
        fapi2,
        await signPs256(claims(fapi2, { aud: [fapi2.issuer] })),
        /aud must be the issuer identifier as a string under FAPI 2\.0/,
      );
    } finally {
      stop(fapi2);
    }
  });

  it('with PROVIDER_ASSERTION_CHECKS=lenient, oidc-provider’s own FAPI 2.0 aud check still holds', async () => {
    const lenient = await startFapi2({ PROVIDER_ASSERTION_CHECKS: 'lenient' });
    try {
      // Lenient drops this provider's checks: an exp ten minutes ahead passes.
      await assertAuthenticated(lenient, await signPs256(claims(lenient, { exp: now() + 600 })));
      await assertRejected(
        lenient,
        await signPs256(claims(lenient, { aud: [lenient.issuer] })),
        /audience \(aud\) must equal the issuer identifier url/,
      );
    } finally {
      stop(lenient);
    }
  });
});
