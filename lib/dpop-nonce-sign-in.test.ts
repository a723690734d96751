import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { decodeJwt } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import * as client from 'openid-client';

import { driveSignIn } from '../provider/drive-sign-in';
import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { createClientAuthentication } from './client-assertion';
import { getConfig } from './config';
import { getProvider } from './discovery';
import { loadDpopKey } from './dpop-client';
import { getClientKeySet } from './keys';
import { completeSignIn, prepareCodeRedemption, startSignIn } from './sign-in';

/**
 * DPoP server nonces (RFC 9449 §8) at the bundled provider (PROVIDER_DPOP_NONCE=true), without
 * PAR (OIDC_DPOP=true alone), so that the token request is the first DPoP request to the provider:
 * the provider answers `use_dpop_nonce`, and the app retries exactly once with a new proof
 * carrying the nonce **and a new client assertion**: the provider has already seen the first
 * assertion's `jti` and would refuse it as a replay.
 *
 * What the token endpoint received is recorded from the provider's own events; what UserInfo
 * received, from the app's trace of what it sent.
 */

const appUrl = 'http://localhost:3997';
const redirectUri = `${appUrl}/auth/callback`;
let op: InProcessProvider;

type Received = {
  readonly path: string;
  readonly status: number;
  readonly error: unknown;
  readonly assertion: string | undefined;
  readonly proof: string | undefined;
};
const received: Received[] = [];

before(async () => {
  op = await startInProcessProvider(appUrl, {
    keyType: 'ec',
    appEnv: { OIDC_DPOP: 'true' },
    providerEnv: { PROVIDER_DPOP_NONCE: 'true' },
  });
  // What the token endpoint received, from the provider's own events.
  const record = (ctx: KoaContextWithOIDC, error?: { error?: unknown }) => {
    const assertion = ctx.oidc.params?.client_assertion;
    received.push({
      path: ctx.path,
      status: error ? 400 : 200,
      error: error?.error,
      assertion: typeof assertion === 'string' ? assertion : undefined,
      proof: ctx.get('dpop') || undefined,
    });
  };
  op.provider.on('grant.success', (ctx: KoaContextWithOIDC) => record(ctx));
  op.provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: unknown }) =>
    record(ctx, err),
  );
});

after(() => op.stop());

/** A sign-in started and taken through the provider's login and consent, up to the callback. */
async function authorize() {
  const { url, transaction } = await startSignIn('/profile');
  const callback = await driveSignIn(url, {
    login: 'alice',
    password: 'alice-password',
    redirectUri,
  });
  return { url, transaction, callback };
}

describe('a provider that demands a DPoP nonce', () => {
  it('binds the code with dpop_jkt; the nonce challenge costs one retry with a new assertion', async () => {
    const { url, transaction, callback } = await authorize();
    assert.ok(url.searchParams.get('dpop_jkt'), 'RFC 9449 §10: dpop_jkt when PAR is off');
    received.length = 0;
    const result = await completeSignIn(callback.searchParams, transaction);
    assert.equal(result.claims.sub, 'alice');
    assert.equal(result.dpop?.binding.token_type, 'dpop');

    const token = received.filter((r) => r.path === '/token');
    assert.deepEqual(
      token.map((r) => [r.status, r.error]),
      [
        [400, 'use_dpop_nonce'],
        [200, undefined],
      ],
      'exactly one retry at the token endpoint',
    );
    const [first, second] = token.map((r) => ({
      assertion: decodeJwt(r.assertion ?? ''),
      proof: decodeJwt(r.proof ?? ''),
    }));
    assert.ok(first && second);
    assert.notEqual(first.assertion.jti, second.assertion.jti, 'a new client assertion');
    assert.notEqual(first.proof.jti, second.proof.jti, 'a new proof');
    assert.equal(first.proof.nonce, undefined);
    assert.equal(typeof second.proof.nonce, 'string', 'the retry carries the nonce');

    // UserInfo: the nonce learnt from the token endpoint (same origin) is used at once.
    const userinfoProof = decodeJwt(result.dpop?.proofs.at(-1) ?? '');
    assert.equal(userinfoProof.htu, `${op.issuer}/me`);
    assert.equal(userinfoProof.nonce, second.proof.nonce);

    // The app's own trace says the same.
    assert.deepEqual(
      result.trace.requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`),
      ['POST /token 400', 'POST /token 200', 'GET /me 200'],
    );
    assert.equal(result.trace.clientAssertions.length, 2);
    assert.equal(result.dpop?.proofs.length, 3);
  });

  it('an assertion signed ahead goes with the first token request only; the retry signs anew', async () => {
    const { transaction, callback } = await authorize();
    received.length = 0;
    const redemption = prepareCodeRedemption();
    const early = (await (await redemption.prepared)?.made)?.body.get('client_assertion');
    assert.ok(early);
    const result = await completeSignIn(callback.searchParams, transaction, redemption);
    assert.equal(result.claims.sub, 'alice');
    const token = received.filter((r) => r.path === '/token');
    assert.deepEqual(
      token.map((r) => r.status),
      [400, 200],
    );
    assert.equal(token[0]?.assertion, early, 'the first request sends the prepared assertion');
    assert.ok(token[1]?.assertion);
    assert.notEqual(decodeJwt(token[1].assertion).jti, decodeJwt(early).jti, 'a new one');
  });

  it('a retry that replayed the first assertion would be refused: why the retry signs a new one', async () => {
    const { transaction, callback } = await authorize();
    const { metadata } = await getProvider();
    const settings = getConfig();
    const sign = createClientAuthentication(settings.assertion, {
      keys: getClientKeySet,
      clockSkew: () => 0,
    });
    // A client authentication that signs once and then sends the same assertion again.
    let first: string | undefined;
    const replaying: client.ClientAuth = async (as, clientMetadata, body, headers) => {
      if (first !== undefined) {
        body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        body.set('client_assertion', first);
        return;
      }
      await sign(as, clientMetadata, body, headers);
      first = body.get('client_assertion') ?? undefined;
    };
    const config = new client.Configuration(metadata, settings.clientId, undefined, replaying);
    client.allowInsecureRequests(config);
    const key = await loadDpopKey(transaction.dpop_key);
    received.length = 0;
    await assert.rejects(
      client.authorizationCodeGrant(
        config,
        new URL(`${redirectUri}?${callback.searchParams}`),
        { pkceCodeVerifier: transaction.code_verifier, expectedState: transaction.state },
        undefined,
        { DPoP: client.getDPoPHandle(config, key.keyPair) },
      ),
      (err: unknown) => err instanceof client.ResponseBodyError && err.error === 'invalid_client',
    );
    assert.deepEqual(
      received.map((r) => r.error),
      ['use_dpop_nonce', 'invalid_client'],
    );
  });
});
