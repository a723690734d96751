import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type * as client from 'openid-client';

import type { ClientAuthAlg } from './algorithms';
import { findProfileIncompatibilities } from './profile-checks';
import { parseProtocolProfile, type ProtocolProfile } from './protocol-profile';

/** The protocol profile against provider metadata and the signing key, at discovery. */

function profileOf(env: Record<string, string>): ProtocolProfile {
  const problems: Parameters<typeof parseProtocolProfile>[1] = [];
  const profile = parseProtocolProfile((name) => env[name], problems, {
    assertionAudience: undefined,
    assertionLifetimeSeconds: 60,
    assertionAlg: undefined,
    idTokenAlg: undefined,
  });
  assert.deepEqual(problems, []);
  return profile;
}

const FAPI_PROVIDER: client.ServerMetadata = {
  issuer: 'https://op.example',
  pushed_authorization_request_endpoint: 'https://op.example/par',
  require_pushed_authorization_requests: true,
  authorization_response_iss_parameter_supported: true,
  dpop_signing_alg_values_supported: ['ES256', 'PS256'],
};
const PLAIN_PROVIDER: client.ServerMetadata = { issuer: 'https://op.example' };
const ES256: { alg: ClientAuthAlg; kid: string } = { alg: 'ES256', kid: 'k1' };

function variables(metadata: client.ServerMetadata, profile: ProtocolProfile, alg = ES256) {
  return findProfileIncompatibilities(metadata, alg, profile).map((p) => p.variable);
}

describe('profile checks at discovery', () => {
  it('a FAPI 2.0 provider and an ES256 key suit OIDC_PROFILE=fapi2', () => {
    assert.deepEqual(variables(FAPI_PROVIDER, profileOf({ OIDC_PROFILE: 'fapi2' })), []);
  });

  it('fapi2 against a provider without PAR, without RFC 9207 iss: named', () => {
    assert.deepEqual(variables(PLAIN_PROVIDER, profileOf({ OIDC_PROFILE: 'fapi2' })), [
      'OIDC_PROFILE',
      'OIDC_PROFILE',
    ]);
  });

  it('fapi2 with a key that signs RS256: OIDC_CLIENT_AUTH_ALG, with PS256 as the fix', () => {
    const problems = findProfileIncompatibilities(
      FAPI_PROVIDER,
      { alg: 'RS256', kid: 'rsa' },
      profileOf({ OIDC_PROFILE: 'fapi2' }),
    );
    assert.deepEqual(
      problems.map((p) => p.variable),
      ['OIDC_CLIENT_AUTH_ALG'],
    );
    assert.match(problems[0]?.fix ?? '', /OIDC_CLIENT_AUTH_ALG=PS256/);
    assert.deepEqual(
      variables(FAPI_PROVIDER, profileOf({ OIDC_PROFILE: 'fapi2' }), { alg: 'PS256', kid: 'rsa' }),
      [],
    );
  });

  it('OIDC_PAR=true needs a PAR endpoint; OIDC_PAR=false contradicts a provider that requires PAR', () => {
    assert.deepEqual(variables(PLAIN_PROVIDER, profileOf({ OIDC_PAR: 'true' })), ['OIDC_PAR']);
    assert.deepEqual(variables(FAPI_PROVIDER, profileOf({ OIDC_PAR: 'false' })), ['OIDC_PAR']);
    assert.deepEqual(variables(FAPI_PROVIDER, profileOf({})), [], 'auto: PAR because required');
    assert.deepEqual(variables(PLAIN_PROVIDER, profileOf({})), []);
  });

  it('OIDC_DPOP_ALG must be one the provider lists, when it lists any', () => {
    assert.deepEqual(
      variables(FAPI_PROVIDER, profileOf({ OIDC_DPOP: 'true', OIDC_DPOP_ALG: 'EdDSA' })),
      ['OIDC_DPOP_ALG'],
    );
    assert.deepEqual(
      variables(
        { ...FAPI_PROVIDER, dpop_signing_alg_values_supported: ['Ed25519'] },
        profileOf({ OIDC_DPOP: 'true', OIDC_DPOP_ALG: 'EdDSA' }),
      ),
      [],
      'Ed25519 is the same signature',
    );
    assert.deepEqual(variables(PLAIN_PROVIDER, profileOf({ OIDC_DPOP: 'true' })), []);
  });
});
