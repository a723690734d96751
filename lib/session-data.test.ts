import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { unsealData, sealData } from 'iron-session';
import { SignJWT } from 'jose';
import type { IDToken } from 'openid-client';

import { createTrace } from './back-channel';
import type { SignInResult } from './sign-in';
import { viewJwt } from './jwt-view';
import { buildSessionPasswords } from './config';
import {
  buildSessionRecord,
  MAX_SEALED_LENGTH,
  openSessionCookie,
  sealSessionCookie,
  SESSION_TTL_SECONDS,
} from './session-data';
import { createSessionId } from './session-store';

const password = 'p'.repeat(32);
const passwords = buildSessionPasswords(password, []);
const key = new TextEncoder().encode('k'.repeat(32));

async function jwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(key);
}

async function result(
  extra: {
    idTokenPadding?: number;
    userinfoPadding?: number;
    refreshTokenLength?: number;
    accessTokenLength?: number;
  } = {},
): Promise<SignInResult> {
  const claims = {
    iss: 'https://idp.example.com',
    sub: 'alice',
    aud: 'client_using_jwt',
    exp: 2_000_000_000,
    iat: 1_900_000_000,
    nonce: 'n'.repeat(43),
    name: 'Alice Liddell',
    ...(extra.idTokenPadding
      ? { groups: Array.from({ length: extra.idTokenPadding }, (_, i) => `group-${i}`) }
      : {}),
  };
  return {
    id_token: await jwt({ kid: 'provider-key' }, claims),
    claims: claims as IDToken,
    userinfo: {
      sub: 'alice',
      email: 'alice@example.com',
      ...(extra.userinfoPadding
        ? { roles: Array.from({ length: extra.userinfoPadding }, (_, i) => `role-${i}`) }
        : {}),
    },
    refresh_token: 'r'.repeat(extra.refreshTokenLength ?? 43),
    access_token: {
      access_token: 'a'.repeat(extra.accessTokenLength ?? 43),
      token_type: 'bearer',
      expires_at: 1_900_000_300_000,
      scope: 'openid profile api1',
    },
    clientAssertion: await jwt(
      { kid: 'client-key', typ: 'client-authentication+jwt' },
      {
        iss: 'client_using_jwt',
        sub: 'client_using_jwt',
        aud: 'https://idp.example.com',
        jti: 'j'.repeat(43),
        iat: 1,
        nbf: 1,
        exp: 61,
      },
    ),
    trace: createTrace(),
  };
}

describe('buildSessionRecord', () => {
  it('keeps the ID token, UserInfo, the decoded client assertion and the refresh token, whole', async () => {
    const signIn = await result({ idTokenPadding: 400, userinfoPadding: 400 });
    const id = createSessionId();
    const record = buildSessionRecord(signIn, { id, now: 1_900_000_000_000 });
    assert.equal(record.id, id);
    assert.equal(record.sub, 'alice');
    assert.equal(record.user.id_token, signIn.id_token, 'a large ID token is not trimmed');
    assert.deepEqual(record.user.userinfo, signIn.userinfo);
    assert.equal(record.user.client_assertion?.header.typ, 'client-authentication+jwt');
    assert.equal(record.user.client_assertion?.payload.aud, 'https://idp.example.com');
    assert.equal(record.tokens.refresh_token, signIn.refresh_token);
    assert.equal(record.tokens.access_token, undefined, 'the API token comes on first use');
    assert.deepEqual(
      record.sign_in_token,
      {
        access_token: 'a'.repeat(43),
        token_type: 'bearer',
        expires_at: 1_900_000_300_000,
        scope: 'openid profile api1',
      },
      'the sign-in access token and its expiry, kept apart from the API token',
    );
    assert.ok(
      !JSON.stringify(record.user).includes('a'.repeat(43)),
      'what pages show never holds the sign-in access token',
    );
    assert.equal(record.expires_at - record.created_at, SESSION_TTL_SECONDS * 1000);
  });

  it('indexes the session by the provider session id (sid) when the ID token has one', async () => {
    const signIn = await result();
    const withSid = { ...signIn, claims: { ...signIn.claims, sid: 'op-session' } };
    assert.equal(buildSessionRecord(withSid, { id: createSessionId() }).sid, 'op-session');
    assert.equal(buildSessionRecord(signIn, { id: createSessionId() }).sid, undefined);
  });
});

describe('session cookie', () => {
  it('holds only the sealed session id: far under 4 KB whatever the tokens', async () => {
    const id = createSessionId();
    const sealed = await sealSessionCookie(id, passwords);
    assert.ok(sealed.length < 400, `sealed cookie is ${sealed.length} bytes`);
    assert.ok(sealed.length <= MAX_SEALED_LENGTH);
    assert.equal(await openSessionCookie(sealed, passwords), id);
    // Tokens never enter the cookie: a provider issuing 2 KB access and refresh tokens changes
    // the record, not the cookie.
    const big = buildSessionRecord(
      await result({ refreshTokenLength: 2048, accessTokenLength: 2048 }),
      { id },
    );
    assert.ok(JSON.stringify(big).length > 4096);
    assert.equal(big.sign_in_token?.access_token.length, 2048, 'the record holds it');
    const bigSealed = await sealSessionCookie(big.id, passwords);
    assert.equal(bigSealed.length, sealed.length);
    for (const cookie of [sealed, bigSealed]) {
      const opened = await unsealData<Record<string, unknown>>(cookie, {
        password: passwords.open,
      });
      assert.deepEqual(opened, { id }, 'the cookie holds the session id and nothing else');
    }
  });

  it('opens after SESSION_SECRET rotation: the new secret seals, the previous one still opens', async () => {
    const id = createSessionId();
    const before = await sealSessionCookie(id, passwords);
    const rotated = buildSessionPasswords('n'.repeat(32), [password]);
    assert.equal(await openSessionCookie(before, rotated), id, 'signed in before the rotation');
    const after = await sealSessionCookie(id, rotated);
    assert.equal(await openSessionCookie(after, rotated), id);
    assert.equal(
      await openSessionCookie(after, passwords),
      undefined,
      'the old secret alone cannot',
    );
    // Once the previous secret is dropped, its cookies no longer open.
    assert.equal(
      await openSessionCookie(before, buildSessionPasswords('n'.repeat(32), [])),
      undefined,
    );
  });

  it('opens a cookie of every secret SESSION_SECRET_PREVIOUS lists, whatever its place', async () => {
    // Two rotations within a session's lifetime: A alone (seals under "1"), then B with A
    // previous, then C with B and A previous. A is still listed: its cookies must open.
    const a = 'a'.repeat(32);
    const b = 'b'.repeat(32);
    const c = 'c'.repeat(32);
    const id = createSessionId();
    const sealedByA = await sealSessionCookie(id, buildSessionPasswords(a, []));
    const sealedByB = await sealSessionCookie(id, buildSessionPasswords(b, []));
    for (const previous of [
      [b, a],
      [a, b],
    ]) {
      const rotated = buildSessionPasswords(c, previous);
      assert.equal(await openSessionCookie(sealedByA, rotated), id, `A, previous ${previous}`);
      assert.equal(await openSessionCookie(sealedByB, rotated), id, `B, previous ${previous}`);
    }
    // A secret no longer listed still opens nothing, under "1" or any other id.
    let reason: string | undefined;
    assert.equal(
      await openSessionCookie(sealedByA, buildSessionPasswords(c, [b]), (r) => {
        reason = r;
      }),
      undefined,
    );
    assert.equal(reason, 'invalid', 'reported once, as the last attempt failed');
  });

  it('treats tampered, foreign, oversized and malformed cookies as no session', async () => {
    const sealed = await sealSessionCookie(createSessionId(), passwords);
    const flipped = `${sealed.slice(0, 60)}${sealed[60] === 'A' ? 'B' : 'A'}${sealed.slice(61)}`;
    for (const value of [
      undefined,
      '',
      'junk',
      flipped,
      sealed.slice(0, -5),
      'x'.repeat(5000),
      await sealData({ id: 'short' }, { password }),
      await sealData({ sub: 'alice' }, { password }),
      await sealSessionCookie(createSessionId(), buildSessionPasswords('f'.repeat(32), [])),
    ]) {
      assert.equal(await openSessionCookie(value, passwords), undefined);
    }
  });
});

describe('viewJwt', () => {
  it('decodes a compact JWT and gives up quietly on anything else', async () => {
    const view = viewJwt((await result()).clientAssertion);
    assert.equal(view?.header.kid, 'client-key');
    assert.equal(view?.payload.jti, 'j'.repeat(43));
    assert.equal(viewJwt(undefined), undefined);
    assert.equal(viewJwt('not.a.jwt'), undefined);
  });
});
