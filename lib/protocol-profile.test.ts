import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parseConfig, type Env } from './config';
import { ConfigError } from './errors';

/** OIDC_PROFILE=fapi2 and the PAR / DPoP switches, through parseConfig as the app runs it. */

const root = mkdtempSync(join(tmpdir(), 'rp-profile-'));
const keyFile = join(root, 'client.pem');
writeFileSync(keyFile, 'placeholder');
const base = { OIDC_CLIENT_KEY_FILE: keyFile };

function parse(env: Env) {
  return parseConfig({ ...base, ...env }, { root, devSessionSecret: () => 'd'.repeat(43) });
}

function problemsOf(env: Env): ConfigError {
  try {
    parse(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, 'expected a ConfigError');
    return err;
  }
  assert.fail('expected parseConfig to throw');
}

describe('protocol profile', () => {
  it('plain by default: no PAR unless the provider requires it, no DPoP, RS256 ID tokens', () => {
    const config = parse({});
    assert.equal(config.protocol.profile, 'plain');
    assert.equal(config.protocol.par, 'auto');
    assert.deepEqual(config.protocol.dpop, { enabled: false, alg: 'ES256' });
    assert.equal(config.protocol.assertionAlgs, undefined);
    assert.equal(config.protocol.requireIssParameter, false);
    assert.equal(config.protocol.apiDpop.advertised, false);
    assert.equal(config.protocol.apiDpop.required, false);
    assert.equal(config.protocol.apiDpop.nonce, false);
    assert.equal(config.idTokenSignedResponseAlg, 'RS256');
    assert.ok(Object.isFrozen(config.protocol) && Object.isFrozen(config.protocol.apiDpop));
  });

  it('OIDC_PAR and OIDC_DPOP switch each part on its own', () => {
    assert.equal(parse({ OIDC_PAR: 'true' }).protocol.par, 'on');
    assert.equal(parse({ OIDC_PAR: 'false' }).protocol.par, 'off');
    const dpop = parse({ OIDC_DPOP: 'true', OIDC_DPOP_ALG: 'EdDSA' }).protocol;
    assert.deepEqual(dpop.dpop, { enabled: true, alg: 'EdDSA' });
    assert.equal(dpop.apiDpop.advertised, true, 'the API announces DPoP when the app uses it');
    assert.equal(dpop.apiDpop.required, false);
    assert.equal(dpop.profile, 'plain');
    assert.equal(parse({ API_DPOP_NONCE: 'true' }).protocol.apiDpop.nonce, true);
    assert.equal(parse({ API_DPOP_REQUIRED: 'yes' }).protocol.apiDpop.required, true);
  });

  it('refuses values that are not booleans or known names', () => {
    const err = problemsOf({
      OIDC_PROFILE: 'fapi1',
      OIDC_PAR: 'maybe',
      OIDC_DPOP: 'sometimes',
      OIDC_DPOP_ALG: 'RS256',
      API_DPOP_NONCE: '2',
    });
    assert.deepEqual(err.problems.map((p) => p.variable).sort(), [
      'API_DPOP_NONCE',
      'OIDC_DPOP',
      'OIDC_DPOP_ALG',
      'OIDC_PAR',
      'OIDC_PROFILE',
    ]);
  });

  it('fapi2 turns on PAR, DPoP, the RFC 9207 check and FAPI algorithms', () => {
    const config = parse({ OIDC_PROFILE: 'fapi2' });
    assert.equal(config.protocol.profile, 'fapi2');
    assert.equal(config.protocol.par, 'on');
    assert.equal(config.protocol.dpop.enabled, true);
    assert.equal(config.protocol.requireIssParameter, true);
    assert.deepEqual(config.protocol.assertionAlgs, ['PS256', 'ES256', 'EdDSA', 'Ed25519']);
    assert.deepEqual(config.protocol.apiDpop.algorithms, ['PS256', 'ES256', 'EdDSA', 'Ed25519']);
    assert.equal(config.protocol.apiDpop.required, true);
    assert.equal(config.idTokenSignedResponseAlg, 'PS256', 'RS256 is not a FAPI 2.0 algorithm');
    assert.equal(config.assertion.lifetimeSeconds, 60);
    // Settings that agree with the profile are fine.
    const explicit = parse({
      OIDC_PROFILE: 'fapi2',
      OIDC_PAR: 'true',
      OIDC_DPOP: 'true',
      OIDC_CLIENT_ASSERTION_AUDIENCE: 'issuer',
      OIDC_CLIENT_ASSERTION_LIFETIME: '30',
      OIDC_CLIENT_AUTH_ALG: 'ES256',
      OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG: 'ES256',
    });
    assert.equal(explicit.idTokenSignedResponseAlg, 'ES256');
    assert.equal(explicit.assertion.lifetimeSeconds, 30);
  });

  it('a setting that contradicts fapi2 stops the app with one message naming it', () => {
    const cases: Array<[Env, string]> = [
      [{ OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint' }, 'OIDC_CLIENT_ASSERTION_AUDIENCE'],
      [
        { OIDC_CLIENT_ASSERTION_AUDIENCE: 'https://idp.example.com/token' },
        'OIDC_CLIENT_ASSERTION_AUDIENCE',
      ],
      [{ OIDC_PAR: 'false' }, 'OIDC_PAR'],
      [{ OIDC_DPOP: 'off' }, 'OIDC_DPOP'],
      [{ OIDC_CLIENT_ASSERTION_LIFETIME: '61' }, 'OIDC_CLIENT_ASSERTION_LIFETIME'],
      [{ OIDC_CLIENT_AUTH_ALG: 'RS256' }, 'OIDC_CLIENT_AUTH_ALG'],
      [{ OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG: 'RS256' }, 'OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG'],
      [{ OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG: 'ES384' }, 'OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG'],
      [{ API_DPOP_REQUIRED: 'false' }, 'API_DPOP_REQUIRED'],
    ];
    for (const [env, variable] of cases) {
      const err = problemsOf({ OIDC_PROFILE: 'fapi2', ...env });
      assert.deepEqual(
        err.problems.map((p) => p.variable),
        [variable],
        JSON.stringify(env),
      );
      assert.match(err.message, /1 problem\b/);
      assert.match(err.message, new RegExp(`${variable}: .*contradicts OIDC_PROFILE=fapi2`));
      assert.match(err.message, /fix: /);
      // The same setting without the profile is accepted (legacy audience, RS256, 61 s …).
      assert.doesNotThrow(() => parse(env), JSON.stringify(env));
    }
  });

  it('names every contradiction at once', () => {
    const err = problemsOf({
      OIDC_PROFILE: 'fapi2',
      OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint',
      OIDC_CLIENT_ASSERTION_LIFETIME: '120',
      OIDC_PAR: 'false',
    });
    assert.deepEqual(err.problems.map((p) => p.variable).sort(), [
      'OIDC_CLIENT_ASSERTION_AUDIENCE',
      'OIDC_CLIENT_ASSERTION_LIFETIME',
      'OIDC_PAR',
    ]);
  });
});
