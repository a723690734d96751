import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { decodeJwt, type JWTPayload } from 'jose';

import {
  corruptSignature,
  generateProviderKey,
  MisbehavingProvider,
  NEVER,
  RawResponse,
  signJwt,
  type Fault,
} from '../e2e/support/misbehaving-provider';
import { findFreePort } from '../scripts/processes';
import { AuthError } from './errors';
import { completeSignIn, startSignIn, type SignInResult } from './sign-in';
import { refreshUserApiToken, revokeRefreshToken } from './token-refresh';
import { writeClientKeyFile } from './client-key-test-support';

/**
 * What the app takes from a refresh response and a revocation endpoint that get things wrong
 * (e2e/support/misbehaving-provider.ts): the token response of a refresh grant (RFC 6749 §5.1),
 * its ID token (OIDC Core §12.2), its errors (RFC 6749 §5.2), and revocation answers
 * (RFC 7009 §2.2).
 */

const CLIENT_ID = 'client_using_jwt';
const appUrl = 'http://localhost:3995';
let op: MisbehavingProvider;

before(async () => {
  op = await MisbehavingProvider.start({ port: await findFreePort(), issuerPath: '/op' });
  // Read once, at discovery: the whole file sees a provider with a revocation endpoint.
  op.metadataOverrides = {
    revocation_endpoint: `${op.issuer}/revoke`,
    grant_types_supported: ['authorization_code', 'refresh_token'],
  };
  const dir = mkdtempSync(join(tmpdir(), 'rp-refresh-'));
  const keyFile = writeClientKeyFile('rp-', dir);
  Object.assign(process.env, {
    OIDC_ISSUER: op.issuer,
    OIDC_CLIENT_ID: CLIENT_ID,
    APP_URL: appUrl,
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
    OIDC_HTTP_TIMEOUT_MS: '1500',
  });
});

after(() => op.stop());

/** One sign-in that gets a refresh token, with `fault` armed. */
async function signInWith(fault: Fault = {}): Promise<SignInResult> {
  const { url, transaction } = await startSignIn('/profile');
  op.arm({
    ...fault,
    tokenResponse: (body) => {
      const edited = { ...body, refresh_token: 'rt-initial' };
      return fault.tokenResponse ? fault.tokenResponse(edited) : edited;
    },
  });
  const redirect = await fetch(url, { redirect: 'manual' });
  const location = redirect.headers.get('location');
  assert.ok(location, 'the provider redirected back');
  return completeSignIn(new URL(location).searchParams, transaction);
}

let session: SignInResult | undefined;
async function signedIn(): Promise<SignInResult> {
  session ??= await signInWith();
  return session;
}

/** The ID token a refresh returns, from the sign-in's claims (OIDC Core §12.2), edited. */
async function refreshedIdToken(
  original: string,
  edit: (claims: JWTPayload) => JWTPayload = (c) => c,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = { ...decodeJwt(original), iat: now, exp: now + 300 };
  delete claims.nonce;
  return signJwt(
    { alg: op.signing.alg, kid: op.signing.kid, typ: 'JWT' },
    edit(claims),
    op.signing,
  );
}

async function refreshWith(
  answer: NonNullable<MisbehavingProvider['refreshGrant']>,
): ReturnType<typeof refreshUserApiToken> {
  const result = await signedIn();
  op.refreshGrant = answer;
  try {
    return await refreshUserApiToken('rt-initial', result.claims.sub, {
      user: { id_token: result.id_token },
    });
  } finally {
    op.refreshGrant = undefined;
  }
}

function refusedAs(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof AuthError, String(err));
    assert.equal(err.code, code, err.detail);
    return true;
  };
}

const good = { access_token: 'at-new', token_type: 'Bearer', expires_in: 300 };

describe('the ID token of a refresh response (OIDC Core §12.2)', () => {
  it('is taken when it is the sign-in’s, signed by the provider', async () => {
    const { id_token } = await signedIn();
    const refreshed = await refreshWith(async () => ({
      ...good,
      id_token: await refreshedIdToken(id_token),
    }));
    assert.equal(refreshed.access_token, 'at-new');
  });

  it('is refused with a bad signature', async () => {
    const { id_token } = await signedIn();
    await assert.rejects(
      refreshWith(async () => ({
        ...good,
        id_token: corruptSignature(await refreshedIdToken(id_token)),
      })),
      refusedAs('id_token_invalid'),
    );
  });

  it('is refused when signed by a key the provider does not publish, under its kid', async () => {
    const { id_token } = await signedIn();
    const stranger = { ...(await generateProviderKey('RS256')), kid: op.signing.kid };
    const now = Math.floor(Date.now() / 1000);
    const forged = await signJwt(
      { alg: stranger.alg, kid: stranger.kid, typ: 'JWT' },
      { ...decodeJwt(id_token), iat: now, exp: now + 300, nonce: undefined },
      stranger,
    );
    await assert.rejects(
      refreshWith(() => ({ ...good, id_token: forged })),
      refusedAs('id_token_invalid'),
    );
  });

  it('is refused when it names another sub', async () => {
    const { id_token } = await signedIn();
    await assert.rejects(
      refreshWith(async () => ({
        ...good,
        id_token: await refreshedIdToken(id_token, (c) => ({ ...c, sub: 'someone-else' })),
      })),
      refusedAs('id_token_invalid'),
    );
  });

  it('is taken with the sign-in’s nonce (oidc-provider repeats it), refused with another', async () => {
    const { id_token } = await signedIn();
    const original = decodeJwt(id_token).nonce;
    assert.ok(typeof original === 'string', 'the sign-in’s ID token has a nonce');
    const same = await refreshWith(async () => ({
      ...good,
      id_token: await refreshedIdToken(id_token, (c) => ({ ...c, nonce: original })),
    }));
    assert.equal(same.access_token, 'at-new');
    await assert.rejects(
      refreshWith(async () => ({
        ...good,
        id_token: await refreshedIdToken(id_token, (c) => ({ ...c, nonce: 'another-nonce' })),
      })),
      refusedAs('id_token_invalid'),
    );
  });

  it('is refused when it names another issuer', async () => {
    const { id_token } = await signedIn();
    await assert.rejects(
      refreshWith(async () => ({
        ...good,
        id_token: await refreshedIdToken(id_token, (c) => ({ ...c, iss: `${op.issuer}/other` })),
      })),
      (err: unknown) => err instanceof AuthError,
    );
  });
});

describe('the token response of a refresh (RFC 6749 §5.1)', () => {
  for (const tokenType of ['bearer', 'BEARER', 'Bearer']) {
    it(`takes token_type ${tokenType} (case-insensitive, RFC 6749 §5.1)`, async () => {
      const refreshed = await refreshWith(() => ({ ...good, token_type: tokenType }));
      assert.equal(refreshed.token_type.toLowerCase(), 'bearer');
    });
  }

  for (const tokenType of ['DPoP', 'mac', undefined]) {
    it(`refuses token_type ${String(tokenType)} from a session without a DPoP key`, async () => {
      await assert.rejects(
        refreshWith(() => ({ ...good, token_type: tokenType })),
        refusedAs('invalid_token_response'),
      );
    });
  }

  for (const expiresIn of [-1, 'soon', null]) {
    it(`refuses expires_in ${JSON.stringify(expiresIn)}`, async () => {
      await assert.rejects(
        refreshWith(() => ({ ...good, expires_in: expiresIn })),
        refusedAs('invalid_token_response'),
      );
    });
  }

  it('keeps no refresh_token when the provider sent none (the old one stays, RFC 6749 §6)', async () => {
    const refreshed = await refreshWith(() => good);
    assert.equal(refreshed.refresh_token, undefined);
  });
});

describe('a refused or failed refresh (RFC 6749 §5.2)', () => {
  it('invalid_grant ends the session; invalid_client, 5xx and a timeout do not', async () => {
    await assert.rejects(
      refreshWith(() => ({ error: 'invalid_grant' })),
      refusedAs('session_expired'),
    );
    await assert.rejects(
      refreshWith(() => new RawResponse(401, 'application/json', '{"error":"invalid_client"}')),
      refusedAs('client_authentication_failed'),
    );
    await assert.rejects(
      refreshWith(() => new RawResponse(503, 'text/html', '<h1>down</h1>')),
      refusedAs('provider_unreachable'),
    );
    await assert.rejects(
      refreshWith(() => NEVER),
      refusedAs('provider_unreachable'),
    );
  });
});

describe('revocation answers (RFC 7009 §2.2)', () => {
  it('sends token_type_hint=refresh_token and takes a 200', async () => {
    await signedIn();
    const before = op.revocationRequests.length;
    assert.equal(await revokeRefreshToken('rt-x', 'alice'), true);
    const sent = op.revocationRequests.slice(before);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.get('token'), 'rt-x');
    assert.equal(sent[0]?.get('token_type_hint'), 'refresh_token');
    assert.ok(sent[0]?.get('client_assertion'), 'authenticated with a client assertion');
  });

  for (const [label, answer] of [
    [
      '400 unsupported_token_type',
      new RawResponse(400, 'application/json', '{"error":"unsupported_token_type"}'),
    ],
    ['503 with Retry-After', new RawResponse(503, 'text/plain', 'busy', { 'retry-after': '1' })],
    ['no answer', NEVER],
  ] as const) {
    it(`reports ${label} as not revoked, without throwing, in bounded time`, async () => {
      await signedIn();
      op.revocationOverride = answer;
      const started = Date.now();
      try {
        assert.equal(await revokeRefreshToken('rt-y', 'alice'), false);
      } finally {
        op.revocationOverride = undefined;
      }
      assert.ok(Date.now() - started < 5000, 'bounded by the request deadline');
    });
  }
});

describe('a sign-in refused after its code was redeemed', () => {
  it('revokes the refresh token it was issued (UserInfo names another sub)', async () => {
    const before = op.revocationRequests.length;
    await assert.rejects(
      signInWith({ userinfo: (c) => ({ ...c, sub: 'someone-else' }) }),
      refusedAs('userinfo_invalid'),
    );
    const sent = op.revocationRequests.slice(before);
    assert.deepEqual(
      sent.map((p) => [p.get('token'), p.get('token_type_hint')]),
      [['rt-initial', 'refresh_token']],
      'no refresh token outlives a sign-in that was refused',
    );
  });

  it('revokes the refresh token it was issued (ID token with a bad signature)', async () => {
    const before = op.revocationRequests.length;
    await assert.rejects(
      signInWith({ signedIdToken: (jwt) => corruptSignature(jwt) }),
      refusedAs('id_token_invalid'),
    );
    assert.deepEqual(
      op.revocationRequests.slice(before).map((p) => p.get('token')),
      ['rt-initial'],
    );
  });
});
