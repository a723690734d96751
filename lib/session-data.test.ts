import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { unsealData, sealData } from 'iron-session';
import { SignJWT } from 'jose';
import type { IDToken } from 'openid-client';

import { createTrace } from './back-channel';
import type { SignInResult } from './sign-in';
import { viewJwt } from './jwt-view';
import {
  fitSessionData,
  MAX_SEALED_LENGTH,
  SESSION_TTL_SECONDS,
  type SessionData,
} from './session-data';

const password = 'p'.repeat(32);
const key = new TextEncoder().encode('k'.repeat(32));

async function jwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(key);
}

async function result(
  extra: { idTokenPadding?: number; userinfoPadding?: number } = {},
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

async function sealedLength(data: SessionData): Promise<number> {
  return (await sealData(data, { password, ttl: SESSION_TTL_SECONDS })).length;
}

describe('fitSessionData', () => {
  it('keeps the ID token, UserInfo and the decoded client assertion when they fit', async () => {
    const data = await fitSessionData(await result(), password);
    assert.equal(data.sub, 'alice');
    assert.ok(data.id_token);
    assert.equal(data.userinfo?.email, 'alice@example.com');
    assert.equal(data.client_assertion?.header.typ, 'client-authentication+jwt');
    assert.equal(data.client_assertion?.payload.aud, 'https://idp.example.com');
    assert.ok((await sealedLength(data)) <= MAX_SEALED_LENGTH);
    // The session round-trips through the seal unchanged.
    assert.deepEqual(
      await unsealData(await sealData(data, { password }), { password }),
      JSON.parse(JSON.stringify(data)),
    );
  });

  it('drops a UserInfo answer too large for the cookie, and keeps the ID token', async () => {
    const data = await fitSessionData(await result({ userinfoPadding: 400 }), password);
    assert.equal(data.userinfo, undefined);
    assert.ok(data.id_token);
    assert.ok((await sealedLength(data)) <= MAX_SEALED_LENGTH);
  });

  it('replaces an ID token too large for the cookie by a subset of its claims', async () => {
    const data = await fitSessionData(await result({ idTokenPadding: 400 }), password);
    assert.equal(data.id_token, undefined);
    assert.deepEqual(
      { sub: data.claims?.sub, iss: data.claims?.iss, name: data.claims?.name },
      { sub: 'alice', iss: 'https://idp.example.com', name: 'Alice Liddell' },
    );
    assert.ok((await sealedLength(data)) <= MAX_SEALED_LENGTH);
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
