import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import * as client from 'openid-client';

import { driveSignIn } from '../provider/drive-sign-in';
import { startApiServer, type ApiServer } from '../e2e/support/api-server';
import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { findFreePort } from '../scripts/processes';
import { callApiWithBearer, callApiWithDpop } from './api-call';
import { createTrace, withTrace } from './back-channel';
import { getConfig } from './config';
import { getProvider } from './discovery';
import { generateDpopKey, getDpopHandle, loadDpopKey, sealDpopJwk } from './dpop-client';
import { AuthError } from './errors';
import { completeSignIn, startSignIn, type SignInResult } from './sign-in';
import { refreshUserApiToken } from './token-refresh';
import { sealTransaction, unsealTransaction } from './transaction';

/**
 * OIDC_PROFILE=fapi2 against the bundled provider in its FAPI 2.0 mode (PROVIDER_PROFILE=fapi2:
 * PAR and DPoP required, PS256/ES256 only), in this process, without a browser: the pushed
 * request, the DPoP-bound tokens, and what the provider refuses.
 */

let appUrl: string;
let redirectUri: string;
let op: InProcessProvider;
let api: ApiServer;
const grants: string[] = [];

before(async () => {
  appUrl = `http://localhost:${await findFreePort()}`;
  redirectUri = `${appUrl}/auth/callback`;
  op = await startInProcessProvider(appUrl, {
    keyType: 'ec',
    appEnv: { OIDC_PROFILE: 'fapi2' },
    providerEnv: { PROVIDER_PROFILE: 'fapi2' },
  });
  op.provider.on('grant.success', (ctx) => grants.push(String(ctx.oidc.params?.grant_type)));
  api = await startApiServer(appUrl);
});

after(() => {
  api.stop();
  op.stop();
});

function alice() {
  return { login: 'alice', password: 'alice-password', redirectUri };
}

async function signIn(): Promise<SignInResult> {
  const { url, transaction } = await startSignIn('/profile');
  return completeSignIn((await driveSignIn(url, alice())).searchParams, transaction);
}

function claimsOf(jwt: string | undefined): Record<string, unknown> {
  assert.ok(jwt, 'a JWT');
  return decodeJwt(jwt) as Record<string, unknown>;
}

describe('FAPI 2.0 sign-in against the bundled provider', () => {
  it('discovers a provider that requires PAR and advertises RFC 9207 and DPoP', async () => {
    const { metadata } = await getProvider();
    assert.equal(metadata.require_pushed_authorization_requests, true);
    assert.ok(metadata.pushed_authorization_request_endpoint);
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
    // Its one signing key is RSA: PS256 only (RS256, which the same key could sign, is not offered).
    assert.deepEqual(metadata.id_token_signing_alg_values_supported, ['PS256']);
    assert.deepEqual(metadata.token_endpoint_auth_signing_alg_values_supported, ['PS256', 'ES256']);
    assert.equal(getConfig().idTokenSignedResponseAlg, 'PS256');
  });

  it('pushes the request: the browser URL holds only client_id and request_uri', async () => {
    const { url, transaction } = await startSignIn('/profile');
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.equal(url.searchParams.get('client_id'), 'client_using_jwt');
    assert.match(url.searchParams.get('request_uri') ?? '', /^urn:ietf:params:oauth:request_uri:/);
    const par = transaction.par;
    assert.ok(par, 'the PAR request is kept for /profile');
    assert.equal(par.endpoint, `${op.issuer}/request`);
    assert.equal(par.parameters.code_challenge_method, 'S256');
    assert.equal(par.parameters.state, transaction.state);
    assert.equal(par.parameters.nonce, transaction.nonce);
    assert.equal(par.parameters.redirect_uri, redirectUri);
    assert.equal(par.request_uri, url.searchParams.get('request_uri'));
    // The PAR request is authenticated like a token request: aud = the issuer, as a string.
    assert.equal(par.attempts.length, 1);
    const [attempt] = par.attempts;
    assert.equal(attempt?.status, 201);
    assert.equal(attempt?.client_assertion?.payload.aud, op.issuer);
    assert.equal(attempt?.client_assertion?.header.alg, 'ES256');
    // It carries a DPoP proof of the session's key, which binds the code to that key.
    assert.ok(transaction.dpop_key, 'the session key travels in the sealed transaction');
    const proof = attempt?.dpop_proof;
    assert.equal(proof?.header.typ, 'dpop+jwt');
    assert.equal(proof?.payload.htm, 'POST');
    assert.equal(proof?.payload.htu, par.endpoint);
    // The cookie keeps the proof's key type only (the key itself is the session's, shown apart).
    assert.deepEqual(proof?.header.jwk, { kty: 'EC', crv: 'P-256' });
    // The transaction cookie stays well under 4 KB.
    const sealed = await sealTransaction(transaction, getConfig().sessionPasswords.seal);
    assert.ok(sealed.length < 3200, `transaction cookie ${sealed.length} bytes`);
    assert.ok((await unsealTransaction(sealed, getConfig().sessionPasswords.open))?.par);
  });

  it('signs in with DPoP-bound tokens: proofs on the token request and UserInfo', async () => {
    const { url, transaction } = await startSignIn('/profile');
    const callback = await driveSignIn(url, alice());
    assert.equal(callback.searchParams.get('iss'), op.issuer);
    const result = await completeSignIn(callback.searchParams, transaction);
    assert.equal(result.claims.sub, 'alice');
    assert.equal(decodeProtectedHeader(result.id_token).alg, 'PS256');
    assert.equal(result.userinfo?.email, 'alice@example.com');
    const dpop = result.dpop;
    assert.ok(dpop);
    assert.equal(dpop.binding.token_type, 'dpop');
    assert.equal(dpop.jkt, await calculateJwkThumbprint(transaction.dpop_key as JWK));
    assert.deepEqual(
      result.trace.requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`),
      ['POST /token 200', 'GET /me 200'],
    );
    assert.equal(dpop.proofs.length, 2);
    const [tokenProof, userinfoProof] = dpop.proofs.map((p) => ({
      header: decodeProtectedHeader(p),
      claims: claimsOf(p),
    }));
    assert.equal(tokenProof?.claims.htu, `${op.issuer}/token`);
    assert.equal(tokenProof?.claims.ath, undefined, 'no access token yet');
    assert.equal(userinfoProof?.claims.htm, 'GET');
    assert.equal(userinfoProof?.claims.htu, `${op.issuer}/me`);
    assert.equal(typeof userinfoProof?.claims.ath, 'string', 'bound to the access token');
    assert.notEqual(tokenProof?.claims.jti, userinfoProof?.claims.jti);
    assert.equal(claimsOf(result.clientAssertion).aud, op.issuer);
  });

  it('the provider refuses an authorization request that was not pushed', async () => {
    const { config } = await getProvider();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: client.randomState(),
    });
    const response = await fetch(url, { redirect: 'manual' });
    const location = new URL(response.headers.get('location') ?? '', url);
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.match(location.searchParams.get('error_description') ?? '', /pushed/i);
  });

  it('the code is bound to the session key: redeemed without a proof, or with another key, it fails', async () => {
    for (const variant of ['no proof', 'another key'] as const) {
      const { url, transaction } = await startSignIn('/profile');
      const callback = await driveSignIn(url, alice());
      const { config } = await getProvider();
      const other = (await generateDpopKey('ES256')).key;
      await assert.rejects(
        client.authorizationCodeGrant(
          config,
          new URL(`${redirectUri}?${callback.searchParams}`),
          { pkceCodeVerifier: transaction.code_verifier, expectedState: transaction.state },
          undefined,
          variant === 'no proof' ? undefined : { DPoP: getDpopHandle(config, other, 'provider') },
        ),
        (err: unknown) => err instanceof client.ResponseBodyError && err.error === 'invalid_grant',
        variant,
      );
    }
  });

  it('a callback without iss is refused before the code is used (RFC 9207, required by fapi2)', async () => {
    const { url, transaction } = await startSignIn('/profile');
    const callback = await driveSignIn(url, alice());
    const params = new URLSearchParams(callback.searchParams);
    params.delete('iss');
    const trace = createTrace();
    await assert.rejects(
      withTrace(trace, () => completeSignIn(params, transaction)),
      (err: unknown) => err instanceof AuthError && err.code === 'issuer_mismatch',
    );
    assert.equal(trace.requests.length, 0);
    // The genuine response still works: the code was never redeemed.
    assert.equal((await completeSignIn(callback.searchParams, transaction)).claims.sub, 'alice');
  });
});

describe('FAPI 2.0: the refresh and the user’s API call, DPoP-bound', () => {
  it('refreshes with a new proof and a new assertion; the API token is bound to the session key', async () => {
    const result = await signIn();
    assert.ok(result.refresh_token && result.dpop);
    const sealed = await sealDpopJwk(result.dpop.key, getConfig().sessionPasswords.seal);
    const refreshed = await refreshUserApiToken(result.refresh_token, 'alice', {
      dpop_key: sealed,
    });
    assert.equal(refreshed.token_type.toLowerCase(), 'dpop');
    const claims = decodeJwt(refreshed.access_token) as { cnf?: { jkt?: string } };
    assert.equal(claims.cnf?.jkt, result.dpop.jkt, 'bound to the session key');
    assert.ok(refreshed.client_assertion && result.clientAssertion);
    assert.notEqual(claimsOf(refreshed.client_assertion).jti, claimsOf(result.clientAssertion).jti);
    assert.equal(claimsOf(refreshed.client_assertion).aud, op.issuer);
    const proofs = refreshed.dpop_proofs ?? [];
    assert.equal(proofs.length, 1);
    assert.equal(claimsOf(proofs[0]).htu, `${op.issuer}/token`);
    assert.ok(!result.dpop.proofs.some((p) => claimsOf(p).jti === claimsOf(proofs[0]).jti));
    // FAPI 2.0 §5.3.2.1: the provider does not rotate refresh tokens (the RFC 9700 §4.14.2
    // alternative to rotation is what this profile has: a sender-constrained confidential client).
    assert.ok(
      refreshed.refresh_token === undefined || refreshed.refresh_token === result.refresh_token,
    );
    const again = await refreshUserApiToken(result.refresh_token, 'alice', { dpop_key: sealed });
    assert.equal(again.token_type.toLowerCase(), 'dpop', 'the same refresh token works again');

    // The API takes it with a proof of the session key (through openid-client), never as Bearer.
    const key = await loadDpopKey(result.dpop.key);
    const { api: settings } = getConfig();
    const answer = await callApiWithDpop(settings.messagesUrl, refreshed.access_token, key, 5000);
    assert.equal(answer.status, 200);
    assert.equal((answer.body as { caller: { sub: string } }).caller.sub, 'alice');
    const bearer = await callApiWithBearer(settings.messagesUrl, refreshed.access_token, 5000);
    assert.equal(bearer.status, 401);
  });

  it('the provider refuses a refresh without a proof; the refresh token survives it', async () => {
    const result = await signIn();
    assert.ok(result.refresh_token && result.dpop);
    grants.length = 0;
    await assert.rejects(
      refreshUserApiToken(result.refresh_token, 'alice'),
      (err: unknown) => err instanceof AuthError && err.error === 'invalid_grant',
    );
    const sealed = await sealDpopJwk(result.dpop.key, getConfig().sessionPasswords.seal);
    const refreshed = await refreshUserApiToken(result.refresh_token, 'alice', {
      dpop_key: sealed,
    });
    assert.equal(refreshed.token_type.toLowerCase(), 'dpop');
    assert.deepEqual(grants, ['refresh_token']);
  });

  it('a session key that cannot be unsealed ends the session rather than refreshing without it', async () => {
    const result = await signIn();
    assert.ok(result.refresh_token);
    await assert.rejects(
      refreshUserApiToken(result.refresh_token, 'alice', { dpop_key: 'Fe26.2**garbage' }),
      (err: unknown) => err instanceof AuthError && err.code === 'session_expired',
    );
  });
});
