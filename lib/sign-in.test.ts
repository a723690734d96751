import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { decodeProtectedHeader, decodeJwt } from 'jose';
import * as client from 'openid-client';

import { driveSignIn } from '../provider/drive-sign-in';
import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { createTrace, withTrace } from './back-channel';
import { AuthError } from './errors';
import { getProvider } from './discovery';
import { completeSignIn, prepareCodeRedemption, startSignIn } from './sign-in';

/**
 * The sign-in protocol end to end, without a browser: the real bundled provider in this process,
 * the app's lib driving it, the user's login and consent done over HTTP.
 */

const appUrl = 'http://localhost:3999';
const redirectUri = `${appUrl}/auth/callback`;
let issuer: string;
let op: InProcessProvider;

before(async () => {
  op = await startInProcessProvider(appUrl);
  issuer = op.issuer;
});

after(() => op.stop());

async function authorize(consent: 'allow' | 'deny' = 'allow') {
  const { url, transaction } = await startSignIn('/profile');
  const callback = await driveSignIn(url, {
    login: 'alice',
    password: 'alice-password',
    redirectUri,
    consent,
  });
  return { transaction, params: callback.searchParams, url };
}

describe('sign-in against the bundled provider', () => {
  it('sends a PKCE S256 authorization request with state and nonce', async () => {
    const { url, transaction } = await startSignIn('/profile');
    assert.equal(url.origin, issuer);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('state'), transaction.state);
    assert.equal(url.searchParams.get('nonce'), transaction.nonce);
    assert.equal(url.searchParams.get('redirect_uri'), redirectUri);
    assert.equal(url.searchParams.get('client_id'), 'client_using_jwt');
  });

  it('redeems the code with a fresh client assertion and validates the ID token and UserInfo', async () => {
    const { transaction, params } = await authorize();
    assert.equal(params.get('iss'), issuer, 'RFC 9207 iss in the authorization response');
    const result = await completeSignIn(params, transaction);
    assert.equal(result.claims.sub, 'alice');
    assert.equal(result.claims.nonce, transaction.nonce);
    assert.equal(result.userinfo?.email, 'alice@example.com');
    assert.ok(result.clientAssertion);
    const header = decodeProtectedHeader(result.clientAssertion);
    const claims = decodeJwt(result.clientAssertion);
    assert.equal(header.typ, 'client-authentication+jwt');
    assert.equal(claims.aud, issuer);
    assert.equal(claims.iss, 'client_using_jwt');
  });

  it('redeems the code with the assertion prepareCodeRedemption signed ahead, and only that one', async () => {
    const { transaction, params } = await authorize();
    const redemption = prepareCodeRedemption();
    const prepared = await redemption.prepared;
    const early = (await prepared?.made)?.body.get('client_assertion');
    assert.ok(early, 'signed before the code is redeemed');
    const result = await completeSignIn(params, transaction, redemption);
    assert.equal(result.claims.sub, 'alice');
    assert.equal(result.clientAssertion, early);
    assert.deepEqual(result.trace.clientAssertions, [early]);
    // Another sign-in signs its own.
    const next = await authorize();
    const again = await completeSignIn(next.params, next.transaction);
    assert.notEqual(again.clientAssertion, early);
  });

  it('costs exactly the token request and UserInfo on a warm app', async () => {
    const { transaction, params } = await authorize();
    const result = await completeSignIn(params, transaction);
    assert.deepEqual(
      result.trace.requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`),
      ['POST /token 200', 'GET /me 200'],
    );
    assert.equal(result.trace.clientAssertions.length, 1);
  });

  it('refuses a wrong state before redeeming the code: the code stays unused', async () => {
    const { transaction, params } = await authorize();
    const forged = new URLSearchParams(params);
    forged.set('state', 'not-the-state');
    await assert.rejects(
      completeSignIn(forged, transaction),
      (err: unknown) => err instanceof AuthError && err.code === 'state_mismatch',
    );
    const repeated = new URLSearchParams(params);
    repeated.append('state', transaction.state);
    await assert.rejects(
      completeSignIn(repeated, transaction),
      (err: unknown) => err instanceof AuthError && err.code === 'state_mismatch',
    );
    // The untouched response still works: nothing was sent to the token endpoint before.
    assert.equal((await completeSignIn(params, transaction)).claims.sub, 'alice');
  });

  it('refuses a replayed code with invalid_grant', async () => {
    const { transaction, params } = await authorize();
    await completeSignIn(params, transaction);
    await assert.rejects(completeSignIn(params, transaction), (err: unknown) => {
      assert.ok(err instanceof AuthError);
      assert.equal(err.code, 'code_rejected');
      assert.equal(err.error, 'invalid_grant');
      return true;
    });
  });

  it('refuses a wrong or missing iss (RFC 9207) without redeeming the code', async () => {
    const { transaction, params } = await authorize();
    for (const iss of ['https://evil.example', undefined]) {
      const changed = new URLSearchParams(params);
      if (iss) changed.set('iss', iss);
      else changed.delete('iss');
      await assert.rejects(
        completeSignIn(changed, transaction),
        (err: unknown) => err instanceof AuthError && err.code === 'issuer_mismatch',
      );
    }
    assert.equal((await completeSignIn(params, transaction)).claims.sub, 'alice');
  });

  it('reports a denied consent as access_denied', async () => {
    const { transaction, params } = await authorize('deny');
    assert.equal(params.get('error'), 'access_denied');
    await assert.rejects(completeSignIn(params, transaction), (err: unknown) => {
      assert.ok(err instanceof AuthError);
      assert.equal(err.code, 'authorization_error');
      assert.equal(err.error, 'access_denied');
      return true;
    });
  });

  it(
    'authenticates every other token request made with the provider configuration ' +
      'the same way, with a fresh assertion',
    async () => {
      const { transaction, params } = await authorize();
      const signIn = await completeSignIn(params, transaction);
      const { config } = await getProvider();
      const trace = createTrace();
      // A refresh with a made-up token: the client authenticates, then the grant is refused.
      await assert.rejects(
        withTrace(trace, () => client.refreshTokenGrant(config, 'not-a-refresh-token')),
        (err: unknown) => {
          assert.ok(err instanceof client.ResponseBodyError);
          assert.equal(err.error, 'invalid_grant', 'client authentication passed');
          return true;
        },
      );
      const [refreshAssertion] = trace.clientAssertions;
      assert.ok(refreshAssertion && signIn.clientAssertion);
      assert.deepEqual(
        decodeProtectedHeader(refreshAssertion),
        decodeProtectedHeader(signIn.clientAssertion),
      );
      assert.notEqual(decodeJwt(refreshAssertion).jti, decodeJwt(signIn.clientAssertion).jti);
    },
  );

  it('refuses a nonce that is not this transaction’s', async () => {
    const { transaction, params } = await authorize();
    await assert.rejects(
      completeSignIn(params, { ...transaction, nonce: 'another-nonce' }),
      (err: unknown) => err instanceof AuthError && err.code === 'id_token_invalid',
    );
  });
});
