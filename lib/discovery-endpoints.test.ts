import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import { MisbehavingProvider } from '../e2e/support/misbehaving-provider';
import { findFreePort } from '../scripts/processes';
import { getProvider } from './discovery';
import { AuthError } from './errors';
import { processSlot } from './process-slot';
import { writeClientKeyFile } from './client-key-test-support';

/**
 * A provider on loopback (plain http allowed, OIDC_ISSUER http://localhost…) whose discovery
 * document sends the app elsewhere in clear text: an endpoint on another host over http. The
 * loopback exception is for the issuer's own host; every endpoint the app calls or sends the
 * browser to must be https, or http on loopback (RFC 6749 §3.1, §3.2; OIDC Core §5.3; OIDC
 * Discovery §3).
 */

let op: MisbehavingProvider;

before(async () => {
  op = await MisbehavingProvider.start({ port: await findFreePort(), issuerPath: '/op' });
  const keyFile = writeClientKeyFile('rp-endpoints-');
  Object.assign(process.env, {
    OIDC_ISSUER: op.issuer,
    OIDC_CLIENT_ID: 'client_using_jwt',
    APP_URL: 'http://localhost:3995',
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
  });
});

after(() => op.stop());

beforeEach(() => {
  // Each case is a fresh discovery: nothing cached, no failure remembered.
  processSlot('provider').set(undefined);
  processSlot('provider-failure').set(undefined);
  op.metadataOverrides = {};
});

describe('discovery of a loopback provider whose endpoints leave loopback in clear text', () => {
  for (const member of [
    'jwks_uri',
    'token_endpoint',
    'userinfo_endpoint',
    'authorization_endpoint',
    'pushed_authorization_request_endpoint',
    'revocation_endpoint',
  ]) {
    it(`refuses ${member} on http://op.example.invalid`, async () => {
      op.metadataOverrides = { [member]: `http://op.example.invalid/op/${member}` };
      await assert.rejects(getProvider(), (err: unknown) => {
        assert.ok(err instanceof AuthError, String(err));
        assert.equal(err.code, 'discovery_failed');
        assert.match(err.detail ?? '', new RegExp(member));
        return true;
      });
    });
  }

  it('takes the same provider when its endpoints stay on loopback (or use https)', async () => {
    op.metadataOverrides = { revocation_endpoint: 'https://op.example.invalid/op/revoke' };
    const { metadata } = await getProvider();
    assert.equal(metadata.issuer, op.issuer);
  });

  it('leaves an http end_session_endpoint to logout, which never sends the ID token there', async () => {
    op.metadataOverrides = { end_session_endpoint: 'http://op.example.invalid/op/end_session' };
    const { metadata } = await getProvider();
    assert.equal(metadata.issuer, op.issuer);
  });
});
