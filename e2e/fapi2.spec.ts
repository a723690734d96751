import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { Page } from '@playwright/test';
import { decodeJwt, decodeProtectedHeader } from 'jose';

import { findFreePort } from '../scripts/processes';
import { ALICE, expect, signIn, test } from './fixtures';
import { findLeaks, listRunSecrets } from './support/log-scan';
import { ES256_KEY } from './support/material';
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy';
import { startStack, type Stack } from './support/stack';

/**
 * OIDC_PROFILE=fapi2 end to end: real Chromium, the production build, and the bundled provider in
 * its FAPI 2.0 mode (PAR and DPoP required, PS256/ES256 only) with DPoP server nonces on; the API
 * demands nonces too. The app signs with an ES256 key.
 *
 * The app is served through a recording reverse proxy (e2e/support/recording-proxy.ts) that is
 * its APP_URL: the app's own server-side calls to its API pass through it, so the test can take
 * the DPoP-bound token and the proof the app sent, and replay them.
 */

test.describe.configure({ mode: 'serial' });

/** User access tokens live this long here (PROVIDER_ACCESS_TOKEN_TTL): refreshed after half. */
const TOKEN_TTL_SECONDS = 12;

let proxy: RecordingProxy;
let stack: Stack;

test.beforeAll(async () => {
  const [proxyPort, appPort, providerPort] = [
    await findFreePort(),
    await findFreePort(),
    await findFreePort(),
  ];
  proxy = await startRecordingProxy(proxyPort, appPort);
  stack = await startStack({
    appPort,
    providerPort,
    appEnv: {
      APP_URL: proxy.url,
      OIDC_PROFILE: 'fapi2',
      OIDC_CLIENT_KEY_FILE: ES256_KEY,
      API_DPOP_NONCE: 'true',
    },
    providerEnv: {
      APP_URL: proxy.url,
      PROVIDER_PROFILE: 'fapi2',
      PROVIDER_DPOP_NONCE: 'true',
      PROVIDER_ACCESS_TOKEN_TTL: String(TOKEN_TTL_SECONDS),
    },
  });
});

test.afterAll(async () => {
  await stack?.stop();
  await proxy?.stop();
});

/** Token-endpoint requests the provider logged with this grant type and outcome. */
function countTokenRequests(grantType: string, outcome = 'ok'): number {
  return stack
    .providerLog()
    .filter(
      (line) =>
        line.includes(`[op] token grant_type=${grantType} `) && line.includes(`outcome=${outcome}`),
    ).length;
}

function jwtClaims(authorization: string | undefined): Record<string, unknown> {
  const token = /^DPoP (.+)$/.exec(authorization ?? '')?.[1];
  expect(token, 'a DPoP Authorization header').toBeTruthy();
  return decodeJwt(token ?? '') as Record<string, unknown>;
}

function claimCell(page: Page, testId: string, claim: string) {
  return page.getByTestId(testId).locator(`tr[data-claim="${claim}"] td.value`);
}

test('sign-in through PAR: the browser carries only client_id and request_uri; the tokens are DPoP-bound', async ({
  page,
}) => {
  const metadata = (await (
    await page.request.get(`${stack.issuer}/.well-known/openid-configuration`)
  ).json()) as { authorization_endpoint: string; require_pushed_authorization_requests: boolean };
  expect(metadata.require_pushed_authorization_requests).toBe(true);
  const authorizationRequests: string[] = [];
  page.on('request', (request) => {
    if (request.url().startsWith(`${metadata.authorization_endpoint}?`))
      authorizationRequests.push(request.url());
  });
  await signIn(page, stack, ALICE);

  expect(authorizationRequests).toHaveLength(1);
  const url = new URL(authorizationRequests[0] ?? '');
  expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
  await expect(page.getByTestId('par-browser-url')).toHaveText(url.href);
  // The provider demanded a DPoP nonce at the PAR endpoint: one retry, with a new assertion.
  await expect(page.getByTestId('par-attempt-2')).toBeVisible();
  await expect(page.getByTestId('par-attempt-3')).toHaveCount(0);
  const jti1 = await claimCell(page, 'par-assertion-1-payload', 'jti').textContent();
  const jti2 = await claimCell(page, 'par-assertion-2-payload', 'jti').textContent();
  expect(jti1 && jti2 && jti1 !== jti2).toBe(true);
  await expect(claimCell(page, 'par-assertion-2-payload', 'aud')).toHaveText(stack.issuer);
  await expect(claimCell(page, 'par-dpop-2-payload', 'nonce')).not.toBeEmpty();
  await expect(claimCell(page, 'par-dpop-1-payload', 'nonce')).toHaveCount(0);
  await expect(claimCell(page, 'par-parameters', 'code_challenge_method')).toHaveText('S256');
  // The code was redeemed once, with a proof: token_type DPoP.
  await expect(page.getByTestId('dpop-token-type')).toHaveText('dpop');
  expect(countTokenRequests('authorization_code')).toBe(1);
  await expect(claimCell(page, 'assertion-header', 'alg')).toHaveText('ES256');
  await expect(claimCell(page, 'id-token-claims', 'sub')).toHaveText('alice');
});

test('the flow inspector shows the PAR step, the decoded DPoP proofs and the token’s cnf', async ({
  page,
}) => {
  await signIn(page, stack, ALICE);
  const jkt = await page.getByTestId('dpop-jkt').textContent();
  expect(jkt).toMatch(/^[\w-]{43}$/);
  await page.goto(`${stack.appUrl}/inspector`);
  await expect(page.getByTestId('timeline')).toBeVisible();
  await expect(page.getByTestId('step-par')).toContainText('Pushed authorization request (PAR)');
  const browserUrl = new URL((await page.getByTestId('par-browser-url').textContent()) ?? '');
  expect([...browserUrl.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
  await expect(page.getByTestId('par-attempt-1')).toBeVisible();
  // The proof of the token request, decoded.
  await expect(claimCell(page, 'dpop-proof-1-header', 'typ')).toHaveText('dpop+jwt');
  await expect(claimCell(page, 'dpop-proof-1-payload', 'htm')).toHaveText('POST');
  const tokenEndpoint = (
    (await (await page.request.get(`${stack.issuer}/.well-known/openid-configuration`)).json()) as {
      token_endpoint: string;
    }
  ).token_endpoint;
  await expect(claimCell(page, 'dpop-proof-1-payload', 'htu')).toHaveText(tokenEndpoint);
  await expect(page.getByTestId('dpop-token-type')).toHaveText('dpop');
  await expect(page.getByTestId('dpop-jkt')).toHaveText(jkt ?? '');
  // The sign-in's access token is opaque here (it is for UserInfo): its cnf cannot be read, and the
  // page says so. The API's token, from the refresh grant, is a JWT: its cnf.jkt is the same key.
  await expect(page.getByTestId('dpop-cnf-opaque')).toBeVisible();
  await page.goto(`${stack.appUrl}/profile`);
  await page.getByTestId('user-api-run').click();
  await expect(page.getByTestId('user-api-status')).toHaveText('200');
  await page.goto(`${stack.appUrl}/inspector`);
  await expect(claimCell(page, 'refresh-access-token-payload', 'cnf')).toHaveText(
    JSON.stringify({ jkt }),
  );
});

test('the user’s API call: a token refreshed with a proof; the API’s nonce costs one retry', async ({
  page,
}) => {
  await signIn(page, stack, ALICE);
  const jkt = await page.getByTestId('dpop-jkt').textContent();
  const refreshesBefore = countTokenRequests('refresh_token');
  proxy.api.length = 0;

  const response = await page.request.get(`${stack.appUrl}/api/me/messages`);
  expect(response.status()).toBe(200);
  expect(response.headers()['x-token-source']).toBe('refreshed');
  const body = (await response.json()) as { caller: Record<string, unknown> };
  expect(body.caller.sub).toBe('alice');
  expect(countTokenRequests('refresh_token')).toBe(refreshesBefore + 1);

  // What the app sent its API: a nonce challenge, then exactly one retry.
  expect(proxy.api.map((r) => r.status)).toEqual([401, 200]);
  expect(proxy.api[0]?.wwwAuthenticate).toMatch(/^DPoP .*error="use_dpop_nonce"/);
  for (const sent of proxy.api) {
    expect(sent.authorization).toMatch(/^DPoP /);
    expect(sent.dpop).toBeTruthy();
  }
  const claims = jwtClaims(proxy.api[1]?.authorization);
  expect(claims.cnf).toEqual({ jkt });
  expect(claims.sub).toBe('alice');
  const proof = decodeJwt(proxy.api[1]?.dpop ?? '');
  expect(proof.htu).toBe(`${stack.appUrl}/api/messages`);
  expect(proof.htm).toBe('GET');
  expect(typeof proof.nonce).toBe('string');
  expect(decodeProtectedHeader(proxy.api[1]?.dpop ?? '').typ).toBe('dpop+jwt');

  // The next call uses the stored token and the nonce it learnt: one request.
  proxy.api.length = 0;
  const again = await page.request.get(`${stack.appUrl}/api/me/messages`);
  expect(again.status()).toBe(200);
  expect(again.headers()['x-token-source']).toBe('store');
  expect(proxy.api.map((r) => r.status)).toEqual([200]);
});

test('the token replayed as Bearer, the proof replayed, a proof for another URL or method: 401', async ({
  page,
}) => {
  await signIn(page, stack, ALICE);
  proxy.api.length = 0;
  expect((await page.request.get(`${stack.appUrl}/api/me/messages`)).status()).toBe(200);
  const sent = proxy.api.at(-1);
  expect(sent?.status).toBe(200);
  const authorization = sent?.authorization ?? '';
  const proof = sent?.dpop ?? '';
  const token = authorization.replace(/^DPoP /, '');

  const asBearer = await fetch(`${stack.appUrl}/api/messages`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(asBearer.status).toBe(401);
  expect(((await asBearer.json()) as { error_description: string }).error_description).toMatch(
    /sender-constrained access token cannot be used as a bearer token/,
  );

  const replayed = await fetch(`${stack.appUrl}/api/messages`, {
    headers: { authorization, dpop: proof },
  });
  expect(replayed.status).toBe(401);
  expect(replayed.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
  expect(((await replayed.json()) as { error_description: string }).error_description).toMatch(
    /already used/,
  );

  // Fresh credentials for the next two: the app calls again (a new proof, recorded).
  proxy.api.length = 0;
  expect((await page.request.get(`${stack.appUrl}/api/me/messages`)).status()).toBe(200);
  const fresh = proxy.api.at(-1);
  const otherUrl = await fetch(`${stack.appUrl}/api/messages/1`, {
    headers: { authorization: fresh?.authorization ?? '', dpop: fresh?.dpop ?? '' },
  });
  expect(otherUrl.status).toBe(401);
  expect(((await otherUrl.json()) as { error_description: string }).error_description).toMatch(
    /another URL \(htu\)/,
  );
  const otherMethod = await fetch(`${stack.appUrl}/api/messages`, {
    method: 'HEAD',
    headers: { authorization: fresh?.authorization ?? '', dpop: fresh?.dpop ?? '' },
  });
  expect(otherMethod.status).toBe(401);
  expect(otherMethod.headers.get('www-authenticate')).toMatch(
    /error="invalid_dpop_proof", error_description="The DPoP proof is for another HTTP method \(htm\)"/,
  );
});

test('the refresh after expiry: a new proof and a new client assertion each time', async ({
  page,
}) => {
  await signIn(page, stack, ALICE);
  const jkt = await page.getByTestId('dpop-jkt').textContent();
  const seen: Array<{ assertion: string; proof: string }> = [];
  for (let round = 0; round < 2; round++) {
    // Past half the token's lifetime, the next call refreshes.
    await page.waitForTimeout((TOKEN_TTL_SECONDS / 2 + 1) * 1000);
    await page.getByTestId('user-api-run').click();
    await expect(page.getByTestId('user-api-status')).toHaveText('200');
    await expect(page.getByTestId('user-token-source')).toHaveAttribute('data-source', 'refreshed');
    await expect(claimCell(page, 'refresh-assertion-payload', 'aud')).toHaveText(stack.issuer);
    await expect(claimCell(page, 'refresh-dpop-1-payload', 'htu')).toHaveText(
      `${stack.issuer}/token`,
    );
    await expect(claimCell(page, 'user-token-payload', 'cnf')).toHaveText(JSON.stringify({ jkt }));
    seen.push({
      assertion: (await claimCell(page, 'refresh-assertion-payload', 'jti').textContent()) ?? '',
      proof: (await claimCell(page, 'refresh-dpop-1-payload', 'jti').textContent()) ?? '',
    });
    await page.reload();
  }
  expect(seen[0]?.assertion).not.toBe(seen[1]?.assertion);
  expect(seen[0]?.proof).not.toBe(seen[1]?.proof);
  expect(countTokenRequests('refresh_token', 'ok')).toBeGreaterThanOrEqual(3);
  expect(countTokenRequests('refresh_token', 'invalid_grant')).toBe(0);
});

test('machine to machine: a DPoP-bound client-credentials token, the API call with a proof', async ({
  page,
}) => {
  await page.goto(`${stack.appUrl}/machine`);
  await page.getByTestId('machine-run').click();
  await expect(page.getByTestId('api-status')).toHaveText('200');
  await expect(page.getByTestId('token-type')).toHaveText('dpop');
  await expect(claimCell(page, 'assertion-payload', 'aud')).toHaveText(stack.issuer);
  expect(countTokenRequests('client_credentials')).toBe(1);
});

test('the app log holds no access token, DPoP proof, private key or session secret', () => {
  const sent = proxy.history;
  expect(sent.length).toBeGreaterThan(5);
  const issued = sent.flatMap((r) => [(r.authorization ?? '').replace(/^DPoP /, ''), r.dpop ?? '']);
  const key = createPrivateKey(readFileSync(ES256_KEY));
  const secrets = [
    ...listRunSecrets(issued.filter(Boolean), stack.sessionSecret),
    { label: 'client private key d', value: String(key.export({ format: 'jwk' }).d) },
    ...readFileSync(ES256_KEY, 'utf8')
      .split('\n')
      .filter((line) => line.length >= 48 && !line.startsWith('-----'))
      .map((value) => ({ label: 'client private key (PEM line)', value })),
  ];
  expect(findLeaks(stack.appLog(), secrets)).toEqual([]);
});
