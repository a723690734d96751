import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { unsealData } from 'iron-session';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';

import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { driveSignIn } from '../provider/drive-sign-in';
import { createTrace, withTrace } from './back-channel';
import { getConfig } from './config';
import { getProvider } from './discovery';
import { AuthError } from './errors';
import { answerMessagesRequest } from './messages-api';
import { buildSessionRecord, sealSessionCookie } from './session-data';
import { createMemorySessionStore, createSessionId } from './session-store';
import { completeSignIn, startSignIn, type SignInResult } from './sign-in';
import { compareRefreshedIdToken, refreshUserApiToken, revokeRefreshToken } from './token-refresh';
import { createUserTokens } from './user-tokens';

/**
 * The user's tokens against the real bundled provider in this process: the refresh grant with
 * `resource` gives an RFC 9068 JWT for the API (while the sign-in's token stays UserInfo's),
 * rotation, reuse detection, revocation, and single flight counted at the provider.
 */

const appUrl = 'http://localhost:3998';
let op: InProcessProvider;
const grants: string[] = [];

before(async () => {
  op = await startInProcessProvider(appUrl);
  op.provider.on('grant.success', (ctx) => grants.push(String(ctx.oidc.params?.grant_type)));
});
after(() => op.stop());

async function signIn(): Promise<SignInResult> {
  const { url, transaction } = await startSignIn('/profile');
  const callback = await driveSignIn(url, {
    login: 'alice',
    password: 'alice-password',
    redirectUri: `${appUrl}/auth/callback`,
  });
  return completeSignIn(callback.searchParams, transaction);
}

function isCode(code: string) {
  return (err: unknown) => err instanceof AuthError && err.code === code;
}

describe('the user’s API token from a refresh with resource', () => {
  it('asks for the API at sign-in; one token request plus UserInfo, and a refresh token', async () => {
    const { url } = await startSignIn('/profile');
    const { api } = getConfig();
    assert.equal(url.searchParams.get('resource'), api.resource);
    assert.ok(url.searchParams.get('scope')?.split(' ').includes(api.scope));
    const result = await signIn();
    assert.ok(result.refresh_token, 'a refresh token at sign-in');
    assert.deepEqual(
      result.trace.requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`),
      ['POST /token 200', 'GET /me 200'],
      'the sign-in itself stays one token request plus UserInfo: the API token comes lazily',
    );
  });

  it('keeps the sign-in access token (UserInfo’s) and its expiry in the record, not the cookie', async () => {
    const sentAt = Date.now();
    const result = await signIn();
    const record = buildSessionRecord(result, { id: createSessionId() });
    const kept = record.sign_in_token;
    assert.ok(kept, 'the record holds the sign-in access token');
    assert.equal(kept.access_token, result.access_token.access_token);
    assert.equal(kept.token_type, 'bearer');
    assert.ok(kept.expires_at !== undefined, 'and its expiry');
    // The bundled provider's default lifetime (PROVIDER_ACCESS_TOKEN_TTL = 300 s), counted from
    // before the request (`expires_in` is whole seconds, and may be one less than the TTL).
    assert.ok(
      kept.expires_at >= sentAt + 298_000 && kept.expires_at <= Date.now() + 300_000,
      `expires ${kept.expires_at - sentAt} ms after the request`,
    );
    // It is the token UserInfo takes; the API token stays the refresh's (getAccessToken).
    const { config } = await getProvider();
    const userinfo = await client.fetchUserInfo(config, kept.access_token, 'alice');
    assert.equal(userinfo.sub, 'alice');
    assert.equal(record.tokens.access_token, undefined);
    assert.ok(!JSON.stringify(record.user).includes(kept.access_token), 'never on a page');
    const cookie = await sealSessionCookie(record.id, getConfig().sessionPasswords);
    assert.deepEqual(
      await unsealData(cookie, { password: getConfig().sessionPasswords.open }),
      { id: record.id },
      'the cookie holds the session id only',
    );

    // The API token comes from a refresh and does not replace it: both are kept, apart.
    const store = createMemorySessionStore();
    await store.create(record);
    const tokens = createUserTokens({ store, refresh: refreshUserApiToken, lockTtlMs: 25_000 });
    const lease = await tokens.getAccessToken(record.id);
    assert.equal(decodeJwt(lease.access_token).aud, getConfig().api.resource);
    assert.notEqual(lease.access_token, kept.access_token);
    const stored = await store.get(record.id);
    assert.ok(stored?.state === 'active');
    assert.deepEqual(stored.record.sign_in_token, kept, 'a refresh leaves it in place');
    assert.equal(stored.record.tokens.access_token, lease.access_token);
  });

  it('refresh with resource → an RFC 9068 JWT for the API alone, a fresh assertion, rotation', async () => {
    const result = await signIn();
    assert.ok(result.refresh_token);
    const refreshed = await refreshUserApiToken(result.refresh_token, 'alice');
    const { api, issuer, clientId } = getConfig();
    assert.equal(decodeProtectedHeader(refreshed.access_token).typ, 'at+jwt');
    const claims = decodeJwt(refreshed.access_token);
    assert.equal(claims.aud, api.resource, 'one audience: the API');
    assert.equal(claims.iss, issuer);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.client_id, clientId);
    assert.equal(claims.scope, api.scope, 'down-scoped to the API scope');
    assert.equal(refreshed.expires_in, 300, 'PROVIDER_ACCESS_TOKEN_TTL default');
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== result.refresh_token);
    assert.ok(refreshed.client_assertion && result.clientAssertion);
    assert.notEqual(
      decodeJwt(refreshed.client_assertion).jti,
      decodeJwt(result.clientAssertion).jti,
      'every refresh signs a new assertion',
    );
    assert.equal(decodeJwt(refreshed.client_assertion).aud, issuer);

    // The API accepts it and names the user, the client and the scope, plus the token's times.
    const answer = await answerMessagesRequest(
      new Request(api.messagesUrl, {
        headers: { authorization: `Bearer ${refreshed.access_token}` },
      }),
    );
    assert.equal(answer.status, 200);
    const body = (await answer.json()) as {
      caller: Record<string, unknown>;
      token: Record<string, unknown>;
    };
    assert.deepEqual(body.caller, { client_id: clientId, sub: 'alice', scope: api.scope });
    assert.deepEqual(body.token, { iat: claims.iat, exp: claims.exp });

    // UserInfo does not take the API's token: hence the sign-in's own token for UserInfo. The
    // provider itself refuses it (RFC 6750 §3.1 invalid_token), not the transport or the client.
    const { config } = await getProvider();
    await assert.rejects(
      client.fetchUserInfo(config, refreshed.access_token, 'alice'),
      (err: unknown) =>
        err instanceof client.WWWAuthenticateChallengeError &&
        err.status === 401 &&
        err.cause.some((c) => c.scheme === 'bearer' && c.parameters.error === 'invalid_token'),
    );
  });

  it('refuses a rotated refresh token used again (session_expired), and the grant with it', async () => {
    const result = await signIn();
    assert.ok(result.refresh_token);
    const first = await refreshUserApiToken(result.refresh_token, 'alice');
    await assert.rejects(
      refreshUserApiToken(result.refresh_token, 'alice'),
      isCode('session_expired'),
    );
    assert.ok(first.refresh_token);
    await assert.rejects(
      refreshUserApiToken(first.refresh_token, 'alice'),
      isCode('session_expired'),
    );
  });

  it('revokes a refresh token (RFC 7009) with a fresh client assertion; it no longer refreshes', async () => {
    const result = await signIn();
    assert.ok(result.refresh_token);
    const trace = createTrace();
    assert.equal(
      await withTrace(trace, () => revokeRefreshToken(result.refresh_token ?? '', 'alice')),
      true,
    );
    assert.deepEqual(
      trace.requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`),
      ['POST /token/revocation 200'],
    );
    const [assertion] = trace.clientAssertions;
    assert.ok(assertion);
    assert.equal(decodeJwt(assertion).aud, getConfig().issuer);
    await assert.rejects(
      refreshUserApiToken(result.refresh_token, 'alice'),
      isCode('session_expired'),
    );
  });

  it('20 concurrent calls of a session at expiry: one refresh grant at the provider', async () => {
    const result = await signIn();
    const store = createMemorySessionStore();
    const record = buildSessionRecord(result, { id: createSessionId() });
    await store.create(record);
    const tokens = createUserTokens({ store, refresh: refreshUserApiToken, lockTtlMs: 25_000 });
    const before = grants.filter((g) => g === 'refresh_token').length;
    const leases = await Promise.all(
      Array.from({ length: 20 }, () => tokens.getAccessToken(record.id)),
    );
    assert.equal(grants.filter((g) => g === 'refresh_token').length - before, 1);
    assert.equal(new Set(leases.map((l) => l.access_token)).size, 1);
    const stored = await store.get(record.id);
    assert.ok(stored?.state === 'active');
    assert.notEqual(stored.record.tokens.refresh_token, record.tokens.refresh_token, 'rotated');
  });
});

describe('compareRefreshedIdToken (OIDC Core §12.2)', () => {
  const original = {
    iss: 'https://op.example',
    sub: 'alice',
    aud: ['rp', 'api'],
    azp: 'rp',
    auth_time: 1_700_000_000,
    iat: 1_700_000_000,
  };

  it('accepts the same authentication: a new iat, aud in another order, auth_time left out', () => {
    assert.equal(
      compareRefreshedIdToken(original, { ...original, iat: 1_700_000_900, aud: ['api', 'rp'] }),
      undefined,
    );
    const { auth_time: _omitted, ...withoutAuthTime } = original;
    assert.equal(compareRefreshedIdToken(original, withoutAuthTime), undefined);
  });

  it('accepts a later auth_time: the user authenticated again in the same provider session', () => {
    // Keycloak moves its user session's auth_time on a re-authentication (prompt=login, max_age,
    // step-up by another client), and its refresh tokens belong to that session.
    assert.equal(
      compareRefreshedIdToken(original, {
        ...original,
        iat: 1_700_000_900,
        auth_time: original.auth_time + 600,
      }),
      undefined,
    );
  });

  it('names the claim that differs', () => {
    assert.equal(compareRefreshedIdToken(original, { ...original, iss: 'https://x' }), 'iss');
    assert.equal(compareRefreshedIdToken(original, { ...original, sub: 'bob' }), 'sub');
    assert.equal(compareRefreshedIdToken(original, { ...original, aud: 'rp' }), 'aud');
    assert.equal(compareRefreshedIdToken(original, { ...original, azp: 'other' }), 'azp');
    assert.equal(
      compareRefreshedIdToken(original, { ...original, auth_time: original.auth_time - 1 }),
      'auth_time',
      'an authentication older than the sign-in is not the sign-in’s',
    );
    const { azp: _none, ...withoutAzp } = original;
    assert.equal(compareRefreshedIdToken(withoutAzp, original), 'azp', 'no azp before, none now');
  });
});
