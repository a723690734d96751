import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { calculateJwkThumbprint, type JWK } from 'jose';

import { startApiServer, type ApiServer } from '../e2e/support/api-server';
import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { findFreePort } from '../scripts/processes';
import { callApiWithBearer } from './api-call';
import { getApiAccessToken } from './client-credentials';
import { callApiWithClientCredentials } from './machine-call';

/**
 * Machine to machine under OIDC_PROFILE=fapi2, in this process: the client-credentials grant at
 * the bundled provider in FAPI 2.0 mode gets a DPoP-bound JWT access token, and the app's own API
 * (lib/messages-api.ts, served here over HTTP with the app's real policy: DPoP required, server
 * nonces on) accepts it only with a fresh proof of the key.
 */

let op: InProcessProvider;
let api: ApiServer;
let appUrl: string;

before(async () => {
  appUrl = `http://localhost:${await findFreePort()}`;
  op = await startInProcessProvider(appUrl, {
    keyType: 'ec',
    appEnv: { OIDC_PROFILE: 'fapi2', API_DPOP_NONCE: 'true' },
    providerEnv: { PROVIDER_PROFILE: 'fapi2' },
  });
  api = await startApiServer(appUrl);
});

after(() => {
  api.stop();
  op.stop();
});

describe('machine to machine with DPoP (FAPI 2.0)', () => {
  it('gets a DPoP-bound token and calls the API with a proof, answering its nonce with one retry', async () => {
    api.seen.length = 0;
    const outcome = await callApiWithClientCredentials();
    assert.ok(outcome.ok, JSON.stringify(outcome));
    assert.equal(outcome.token.token_type, 'dpop');
    const cnf = outcome.token.accessToken?.payload.cnf as { jkt?: string } | undefined;
    assert.ok(cnf?.jkt, 'the JWT access token carries cnf.jkt');
    assert.equal(outcome.api.status, 200);
    assert.deepEqual(
      api.seen.map((s) => s.status),
      [401, 200],
      'the API asked for a nonce; exactly one retry',
    );
    const proofs = outcome.api.dpop?.proofs ?? [];
    assert.equal(proofs.length, 2);
    assert.equal(proofs[0]?.payload.nonce, undefined);
    assert.equal(typeof proofs[1]?.payload.nonce, 'string');
    assert.equal(await calculateJwkThumbprint(proofs[1]?.header.jwk as JWK), cnf.jkt);
    assert.equal(proofs[1]?.payload.htu, `${appUrl}/api/messages`);
    assert.match(api.seen[1]?.authorization ?? '', /^DPoP /);
    const body = outcome.api.body as { caller: { client_id: string } };
    assert.equal(body.caller.client_id, 'client_using_jwt');
    // The token request itself carried a proof: the assertion shows aud = issuer (FAPI 2.0).
    assert.equal(outcome.token.assertion?.payload.aud, op.issuer);
  });

  it('the next call reuses the cached token and the nonce: one request', async () => {
    api.seen.length = 0;
    const outcome = await callApiWithClientCredentials();
    assert.ok(outcome.ok);
    assert.equal(outcome.token.source, 'cache');
    assert.equal(outcome.api.status, 200);
    assert.equal(api.seen.length, 1);
  });

  it('the same token as a Bearer token, a replayed proof, a proof for another URL or method: 401', async () => {
    const { token } = await getApiAccessToken();
    const bearer = await callApiWithBearer(`${appUrl}/api/messages`, token.access_token, 5000);
    assert.equal(bearer.status, 401);
    assert.match(bearer.wwwAuthenticate ?? '', /error="invalid_token"/);

    api.seen.length = 0;
    assert.ok((await callApiWithClientCredentials()).ok);
    const accepted = api.seen.at(-1);
    assert.equal(accepted?.status, 200);
    const replay = (path: string, method = 'GET') =>
      fetch(`${appUrl}${path}`, {
        method,
        headers: { authorization: accepted?.authorization ?? '', dpop: accepted?.dpop ?? '' },
      });
    const replayed = await replay('/api/messages');
    assert.equal(replayed.status, 401);
    assert.match(replayed.headers.get('www-authenticate') ?? '', /invalid_dpop_proof/);
    assert.match(
      ((await replayed.json()) as { error_description: string }).error_description,
      /already used/,
    );
    const elsewhere = await replay('/api/other');
    assert.equal(elsewhere.status, 401);
    assert.match(
      ((await elsewhere.json()) as { error_description: string }).error_description,
      /URL/,
    );
    const otherMethod = await replay('/api/messages', 'POST');
    assert.equal(otherMethod.status, 401);
    assert.match(
      ((await otherMethod.json()) as { error_description: string }).error_description,
      /method/,
    );
  });
});
