import assert from 'node:assert/strict';
import { createPrivateKey, createSign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CompactEncrypt, generateKeyPair } from 'jose';

import {
  corruptSignature,
  createSignedUserInfo,
  generateProviderKey,
  MisbehavingProvider,
  RawResponse,
  type Fault,
} from '../e2e/support/misbehaving-provider';
import { findFreePort } from '../scripts/processes';
import { AuthError } from './errors';
import { mergeUserClaims } from './session-data';
import {
  buildLogoutUrl,
  completeSignIn,
  isSecureEndpoint,
  startSignIn,
  type SignInResult,
} from './sign-in';
import { writeClientKeyFile } from './client-key-test-support';

/**
 * What the app takes from a provider that gets things wrong on purpose
 * (e2e/support/misbehaving-provider.ts): a signed UserInfo response (`application/jwt`) is verified
 * against the provider's JWKS or refused (OIDC Core §5.3.4), UserInfo never replaces what the ID
 * token vouches for, and the ID token never travels to a plain-http end_session_endpoint.
 */

const CLIENT_ID = 'client_using_jwt';
const appUrl = 'http://localhost:3996';
let op: MisbehavingProvider;

before(async () => {
  op = await MisbehavingProvider.start({ port: await findFreePort(), issuerPath: '/op' });
  // Read once, at discovery: the whole file sees this provider's logout endpoint in clear text.
  op.metadataOverrides = { end_session_endpoint: 'http://op.example.net/op/end_session' };
  const dir = mkdtempSync(join(tmpdir(), 'rp-userinfo-'));
  const keyFile = writeClientKeyFile('rp-', dir);
  Object.assign(process.env, {
    OIDC_ISSUER: op.issuer,
    OIDC_CLIENT_ID: CLIENT_ID,
    APP_URL: appUrl,
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
  });
});

after(() => op.stop());

/** One sign-in with `fault` armed, from the authorization request to the end of the callback. */
async function signInWith(fault: Fault): Promise<SignInResult> {
  const { url, transaction } = await startSignIn('/profile');
  op.arm(fault);
  const redirect = await fetch(url, { redirect: 'manual' });
  const location = redirect.headers.get('location');
  assert.ok(location, 'the provider redirected back');
  return completeSignIn(new URL(location).searchParams, transaction);
}

function refusedAs(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof AuthError, String(err));
    assert.equal(err.code, code, err.detail);
    return true;
  };
}

describe('a signed UserInfo response (application/jwt)', () => {
  it('is used when its signature verifies against the provider’s JWKS and iss and aud are right', async () => {
    const result = await signInWith({
      userinfo: (c, provider) =>
        createSignedUserInfo(provider, CLIENT_ID, { ...c, email: 'signed@op.test' }),
    });
    assert.equal(result.userinfo?.email, 'signed@op.test');
    assert.equal(result.userinfo?.sub, op.user.sub);
  });

  it('is refused with a bad signature', async () => {
    await assert.rejects(
      signInWith({
        userinfo: async (c, provider) => {
          const signed = await createSignedUserInfo(provider, CLIENT_ID, c);
          return new RawResponse(200, 'application/jwt', corruptSignature(signed.body));
        },
      }),
      refusedAs('userinfo_invalid'),
    );
  });

  it('is refused when signed by a key the provider does not publish, under a published kid', async () => {
    const stranger = { ...(await generateProviderKey('RS256')), kid: op.signing.kid };
    await assert.rejects(
      signInWith({
        userinfo: (c, provider) => createSignedUserInfo(provider, CLIENT_ID, c, stranger),
      }),
      refusedAs('userinfo_invalid'),
    );
  });

  it('is refused when signed with another algorithm than the provider signs ID tokens with', async () => {
    const es256 = await generateProviderKey('ES256');
    op.published = [op.signing, es256];
    try {
      await assert.rejects(
        signInWith({
          userinfo: (c, provider) => createSignedUserInfo(provider, CLIENT_ID, c, es256),
        }),
        (err: unknown) => err instanceof AuthError && err.code === 'userinfo_invalid',
      );
    } finally {
      op.published = [op.signing];
    }
  });

  it('allows the provider’s clock a few seconds ahead, as the ID token does (nbf, iat)', async () => {
    // The provider signs `nbf` = its own now; this machine's clock a little behind it (or the
    // provider's Date truncated to the second) must not fail a sign-in that the ID token passed.
    const now = Math.floor(Date.now() / 1000);
    const result = await signInWith({
      userinfo: (c, provider) =>
        createSignedUserInfo(provider, CLIENT_ID, c, provider.signing, {
          iat: now + 5,
          nbf: now + 5,
          exp: now + 305,
        }),
    });
    assert.equal(result.userinfo?.sub, op.user.sub);
    // Far beyond any tolerance it is still refused.
    await assert.rejects(
      signInWith({
        userinfo: (c, provider) =>
          createSignedUserInfo(provider, CLIENT_ID, c, provider.signing, { nbf: now + 600 }),
      }),
      refusedAs('userinfo_invalid'),
    );
  });

  it('is refused without iss or aud (a signed response MUST carry both), or for another client', async () => {
    for (const overrides of [
      { iss: undefined },
      { aud: undefined },
      { iss: undefined, aud: undefined },
      { aud: 'another-client' },
    ]) {
      await assert.rejects(
        signInWith({
          userinfo: (c, provider) =>
            createSignedUserInfo(provider, CLIENT_ID, c, provider.signing, overrides),
        }),
        refusedAs('userinfo_invalid'),
        JSON.stringify(overrides),
      );
    }
  });
});

describe('an ID token the app cannot process is refused as the ID token', () => {
  it('is id_token_invalid when encrypted (JWE), though no encryption was registered', async () => {
    const { publicKey } = await generateKeyPair('RSA-OAEP-256');
    await assert.rejects(
      signInWith({
        signedIdToken: (jwt) =>
          new CompactEncrypt(new TextEncoder().encode(jwt))
            .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })
            .encrypt(publicKey),
      }),
      refusedAs('id_token_invalid'),
    );
  });

  it('is id_token_invalid with a crit header parameter the app does not understand', async () => {
    // RFC 7515 §4.1.11: an extension listed in crit that is not understood makes the JWS invalid.
    await assert.rejects(
      signInWith({
        signedIdToken: async (_jwt, draft, provider) => {
          const encode = (value: object) =>
            Buffer.from(JSON.stringify(value)).toString('base64url');
          const header = {
            ...draft.header,
            crit: ['urn:example:must-know'],
            'urn:example:must-know': 1,
          };
          const input = `${encode(header)}.${encode(draft.claims)}`;
          const key = createPrivateKey({
            key: { ...provider.signing.privateJwk } as Record<string, unknown>,
            format: 'jwk',
          });
          return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
        },
      }),
      refusedAs('id_token_invalid'),
    );
  });

  it('leaves a token response whose token_type is unknown as invalid_token_response', async () => {
    await assert.rejects(
      signInWith({ tokenResponse: (body) => ({ ...body, token_type: 'mac' }) }),
      refusedAs('invalid_token_response'),
    );
  });
});

describe('what the app shows from UserInfo', () => {
  it('never lets UserInfo replace iss, aud, sub or the other claims the ID token vouches for', async () => {
    const result = await signInWith({
      userinfo: (c) => ({
        ...c,
        iss: 'https://attacker.example',
        aud: 'another-client',
        exp: 1,
        auth_time: 1,
        acr: 'urn:forged:loa-4',
        nonce: 'forged',
        name: 'Mallory From UserInfo',
      }),
    });
    const shown = mergeUserClaims(result.claims, result.userinfo, result.claims.sub);
    assert.equal(shown.iss, op.issuer);
    assert.equal(shown.aud, CLIENT_ID);
    assert.equal(shown.sub, op.user.sub);
    assert.equal(shown.exp, result.claims.exp);
    assert.equal(shown.auth_time, result.claims.auth_time);
    assert.equal(shown.nonce, result.claims.nonce);
    assert.equal(shown.acr, undefined);
    assert.equal(shown.name, 'Mallory From UserInfo', 'profile claims still come from UserInfo');
    assert.equal(shown.email, op.user.email);
  });
});

describe('RP-initiated logout', () => {
  it('never sends the id_token_hint to an end_session_endpoint in clear text', async () => {
    const result = await signInWith({});
    assert.equal(await buildLogoutUrl(result.id_token), undefined);
  });

  it('takes https, and http only on loopback', () => {
    assert.equal(isSecureEndpoint('https://op.example.net/logout'), true);
    assert.equal(isSecureEndpoint('http://localhost:4000/session/end'), true);
    assert.equal(isSecureEndpoint('http://127.0.0.1:4000/session/end'), true);
    assert.equal(isSecureEndpoint('http://[::1]:4000/session/end'), true);
    assert.equal(isSecureEndpoint('http://op.example.net/logout'), false);
    assert.equal(isSecureEndpoint('http://localhost.example.net/logout'), false);
    assert.equal(isSecureEndpoint('javascript:alert(1)'), false);
    assert.equal(isSecureEndpoint('not a url'), false);
  });
});
