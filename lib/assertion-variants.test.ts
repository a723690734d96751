import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  candidateAlgorithms,
  describeVariant,
  listAlternatives,
  listStrongerVariants,
  listWeakenings,
  settingsForVariant,
  type AssertionVariant,
  type VariantSpace,
} from './assertion-variants';
import type { AppConfig } from './config';

/** The shapes doctor tries, their order, and the settings each one needs. */

const DEFAULTS: AppConfig['assertion'] = Object.freeze({
  alg: undefined,
  audience: Object.freeze({ mode: 'issuer' as const }),
  typ: true,
  x5tSha1: false,
  lifetimeSeconds: 60,
});
const RSA_SPACE: VariantSpace = {
  algorithms: ['PS256', 'RS256'],
  withCertificate: false,
  configuredUrl: false,
  hasTokenEndpoint: true,
};
const CONFIGURED: AssertionVariant = {
  audience: 'issuer',
  typ: true,
  alg: 'RS256',
  thumbprints: false,
};

describe('assertion shapes', () => {
  it('the algorithms an RSA, EC and Ed25519 key can sign, as far as the provider lists them', () => {
    assert.deepEqual(candidateAlgorithms({ kty: 'RSA' }, undefined), ['PS256', 'RS256']);
    assert.deepEqual(candidateAlgorithms({ kty: 'RSA' }, ['RS256', 'ES256']), ['RS256']);
    assert.deepEqual(candidateAlgorithms({ kty: 'EC', crv: 'P-256' }, ['RS256']), []);
    assert.deepEqual(candidateAlgorithms({ kty: 'OKP', crv: 'Ed25519' }, ['Ed25519']), ['Ed25519']);
  });

  it('alternatives: one setting changed before two, the stronger first among equals', () => {
    const order = listAlternatives(CONFIGURED, RSA_SPACE).map((v) => describeVariant(v, false));
    assert.equal(order.length, 3 * 2 * 2 - 1);
    assert.deepEqual(order.slice(0, 4), [
      'aud=issuer typ=on alg=PS256',
      'aud=issuer_array typ=on alg=RS256',
      'aud=issuer typ=off alg=RS256',
      'aud=token_endpoint typ=on alg=RS256',
    ]);
    assert.ok(!order.includes(describeVariant(CONFIGURED, false)));
    // With a certificate, the thumbprints are a dimension too.
    const withCert = listAlternatives(
      { ...CONFIGURED, thumbprints: true },
      { ...RSA_SPACE, withCertificate: true },
    );
    assert.equal(withCert.length, 3 * 2 * 2 * 2 - 1);
    assert.ok(withCert.some((v) => !v.thumbprints));
  });

  it('stronger shapes undo one weakening at a time', () => {
    const weak: AssertionVariant = {
      audience: 'token_endpoint',
      typ: false,
      alg: 'RS256',
      thumbprints: false,
    };
    assert.deepEqual(
      listStrongerVariants(weak, RSA_SPACE).map((v) => describeVariant(v, false)),
      [
        'aud=issuer typ=off alg=RS256',
        'aud=token_endpoint typ=on alg=RS256',
        'aud=token_endpoint typ=off alg=PS256',
      ],
    );
    assert.deepEqual(listStrongerVariants({ ...CONFIGURED, alg: 'PS256' }, RSA_SPACE), []);
  });

  it('the settings for a shape, against the current ones', () => {
    assert.deepEqual(
      settingsForVariant({ ...CONFIGURED, audience: 'token_endpoint', typ: false }, 'RS256', {
        current: DEFAULTS,
        withCertificate: false,
      }),
      // typ is off by default with a token-endpoint audience (lib/config.ts)
      { env: ['OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint'], unset: [], unsupported: [] },
    );
    assert.deepEqual(
      settingsForVariant({ ...CONFIGURED, audience: 'token_endpoint' }, 'RS256', {
        current: DEFAULTS,
        withCertificate: false,
      }).env,
      ['OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint', 'OIDC_CLIENT_ASSERTION_TYP=true'],
    );
    assert.deepEqual(
      settingsForVariant({ ...CONFIGURED, typ: false }, 'RS256', {
        current: DEFAULTS,
        withCertificate: false,
      }).env,
      ['OIDC_CLIENT_ASSERTION_TYP=false'],
    );
    // Back to the defaults from legacy settings: say what to unset.
    const legacy: AppConfig['assertion'] = {
      ...DEFAULTS,
      audience: { mode: 'token_endpoint' },
      typ: false,
      alg: 'PS256',
    };
    assert.deepEqual(
      settingsForVariant(CONFIGURED, 'RS256', { current: legacy, withCertificate: false }),
      {
        env: [],
        // typ false is the token-endpoint audience's default: back at the issuer it is on again
        unset: ['OIDC_CLIENT_ASSERTION_AUDIENCE', 'OIDC_CLIENT_AUTH_ALG'],
        unsupported: [],
      },
    );
    const odd = settingsForVariant(
      { ...CONFIGURED, audience: 'issuer_array', alg: 'PS256' },
      'RS256',
      { current: DEFAULTS, withCertificate: true },
    );
    assert.deepEqual(odd.env, ['OIDC_CLIENT_AUTH_ALG=PS256']);
    assert.equal(odd.unsupported.length, 2, 'an array audience and no thumbprints have no setting');
  });

  it('weakenings, each with its reason', () => {
    assert.deepEqual(listWeakenings({ ...CONFIGURED, alg: 'PS256' }, RSA_SPACE, ['PS256']), []);
    const all = listWeakenings(
      { audience: 'token_endpoint', typ: false, alg: 'RS256', thumbprints: false },
      RSA_SPACE,
      ['RS256', 'PS256'],
    );
    assert.equal(all.length, 3);
    assert.match(all[0] ?? '', /audience injection/);
    assert.match(all[1] ?? '', /RFC 8725 §3\.11/);
    assert.match(all[2] ?? '', /OIDC_CLIENT_AUTH_ALG=PS256/);
    // RS256 is no weakening when the provider offers nothing better.
    assert.deepEqual(
      listWeakenings(CONFIGURED, { ...RSA_SPACE, algorithms: ['RS256'] }, ['RS256']),
      [],
    );
  });
});
