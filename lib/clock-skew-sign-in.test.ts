import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { decodeJwt } from 'jose';
import * as client from 'openid-client';

import { driveSignIn } from '../provider/drive-sign-in';
import {
  findFreePort,
  startChild,
  stopChild,
  tsxNode,
  waitForHttp,
  type Child,
} from '../scripts/processes';
import { getClockSkew } from './clock-skew';
import { loadClientKeySet } from './keys';
import { completeSignIn, startSignIn } from './sign-in';

/**
 * A sign-in from a machine whose clock runs two minutes fast. The bundled provider runs in its own
 * process with the true time; in this process `Date.now()` — what openid-client dates assertions
 * with — is two minutes ahead. Without correction the provider refuses the assertion (`nbf`/`iat`
 * in its future); with the offset learned from its `Date` header the sign-in succeeds.
 */

const SKEW_MS = 120_000;
const appUrl = 'http://localhost:3998';
const redirectUri = `${appUrl}/auth/callback`;
const realNow = Date.now.bind(Date);

let provider: Child;
let issuer: string;
let keyFile: string;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rp-skew-'));
  keyFile = join(dir, 'client.pem');
  writeFileSync(
    keyFile,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'sec1',
      format: 'pem',
    }),
  );
  const jwksFile = join(dir, 'client.public.jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: (await loadClientKeySet(keyFile)).published }));
  issuer = `http://localhost:${await findFreePort()}`;
  provider = startChild({
    name: 'op',
    ...tsxNode('provider/index.ts'),
    env: {
      ...process.env,
      PROVIDER_ISSUER: issuer,
      APP_URL: appUrl,
      PROVIDER_CLIENT_REGISTRATION: 'jwks',
      PROVIDER_CLIENT_JWKS_FILE: jwksFile,
    },
  });
  await waitForHttp(`${issuer}/.well-known/openid-configuration`, provider, 30_000);
  Object.assign(process.env, {
    OIDC_ISSUER: issuer,
    APP_URL: appUrl,
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
  });
  // From here on, this machine's clock runs two minutes fast.
  Date.now = () => realNow() + SKEW_MS;
});

after(async () => {
  Date.now = realNow;
  await stopChild(provider);
});

describe('a machine clock two minutes fast', () => {
  it('control: an uncorrected assertion is refused by the provider', async () => {
    const keys = await loadClientKeySet(keyFile);
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code: 'made-up',
      redirect_uri: redirectUri,
    });
    const as = { issuer, token_endpoint: `${issuer}/token` };
    await client.PrivateKeyJwt({ key: keys.signing.privateKey, kid: keys.signing.kid })(
      as as never,
      { client_id: 'client_using_jwt' } as never,
      body,
      new Headers(),
    );
    const response = await fetch(as.token_endpoint, {
      method: 'POST',
      body,
      headers: { accept: 'application/json' },
    });
    const error = (await response.json()) as { error: string; error_description: string };
    assert.equal(response.status, 401);
    assert.equal(error.error, 'invalid_client');
    assert.match(error.error_description, /not active yet|in the future/);
  });

  it('signs in: the assertion carries the provider’s time, learned from its Date header', async () => {
    const { url, transaction } = await startSignIn('/profile');
    assert.ok(
      getClockSkew() <= -SKEW_MS / 1000 + 1 && getClockSkew() >= -SKEW_MS / 1000 - 2,
      `measured ${getClockSkew()} s`,
    );
    const callback = await driveSignIn(url, {
      login: 'alice',
      password: 'alice-password',
      redirectUri,
    });
    const result = await completeSignIn(callback.searchParams, transaction);
    assert.equal(result.claims.sub, 'alice');
    assert.ok(result.clientAssertion);
    const { iat, exp } = decodeJwt(result.clientAssertion);
    const providerNow = Math.floor(realNow() / 1000);
    assert.ok(
      typeof iat === 'number' && iat <= providerNow && iat >= providerNow - 5,
      `iat ${iat}, provider now ${providerNow}`,
    );
    assert.equal(exp, (iat as number) + 60);
  });
});
