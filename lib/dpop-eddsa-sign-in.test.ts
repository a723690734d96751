import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { decodeProtectedHeader } from 'jose';

import { driveSignIn } from '../provider/drive-sign-in';
import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { getConfig } from './config';
import { sealDpopJwk } from './dpop-client';
import { startPreparedSignIn } from './prepared-sign-in';
import { completeSignIn, startSignIn } from './sign-in';
import { refreshUserApiToken } from './token-refresh';

/**
 * OIDC_DPOP=true with OIDC_DPOP_ALG=EdDSA (Ed25519 session keys), without the FAPI 2.0 profile,
 * against the bundled provider in this process: the sign-in and a refresh with DPoP-bound tokens.
 */

const appUrl = 'http://localhost:3996';
let op: InProcessProvider;

before(async () => {
  op = await startInProcessProvider(appUrl, {
    appEnv: { OIDC_DPOP: 'true', OIDC_DPOP_ALG: 'EdDSA' },
  });
});

after(() => op.stop());

describe('DPoP with Ed25519 session keys', () => {
  it('signs in and refreshes with EdDSA proofs; the tokens are bound to the key', async () => {
    const { url, transaction } = await startSignIn('/profile');
    assert.equal(url.searchParams.has('request_uri'), false, 'no PAR unless asked or required');
    assert.ok(url.searchParams.get('dpop_jkt'));
    const callback = await driveSignIn(url, {
      login: 'alice',
      password: 'alice-password',
      redirectUri: `${appUrl}/auth/callback`,
    });
    const result = await completeSignIn(callback.searchParams, transaction);
    assert.equal(result.dpop?.binding.token_type, 'dpop');
    assert.equal(result.dpop?.jkt, url.searchParams.get('dpop_jkt'));
    for (const proof of result.dpop?.proofs ?? []) {
      const header = decodeProtectedHeader(proof);
      assert.ok(header.alg === 'Ed25519' || header.alg === 'EdDSA', String(header.alg));
      assert.equal((header.jwk as { crv?: string }).crv, 'Ed25519');
    }
    assert.ok(result.refresh_token && result.dpop);
    const refreshed = await refreshUserApiToken(result.refresh_token, 'alice', {
      dpop_key: await sealDpopJwk(result.dpop.key, getConfig().sessionPasswords.seal),
    });
    assert.equal(refreshed.token_type.toLowerCase(), 'dpop');
  });

  it('makes no sign-in start ahead: each start has a DPoP key of its own', async () => {
    const first = await startPreparedSignIn('/profile');
    const second = await startPreparedSignIn('/profile');
    assert.equal(second.sealed, undefined);
    assert.ok(second.transaction.dpop_key);
    assert.ok(second.url.searchParams.get('dpop_jkt'));
    assert.notEqual(
      second.url.searchParams.get('dpop_jkt'),
      first.url.searchParams.get('dpop_jkt'),
    );
  });
});
