import * as client from 'openid-client';

import { CLIENT_AUTH_ALGS, type ClientAuthAlg } from './algorithms';
import { CLIENT_ASSERTION_TYP, selectAssertionAlg } from './client-assertion';
import type { AppConfig } from './config';
import type { ClientKey, PublicJwk } from './keys';

/**
 * The shapes a client assertion can take where providers disagree, for `npm run doctor`: it signs
 * the same assertion in each shape until the provider accepts one, and then says which settings of
 * this app produce that shape.
 *
 * - the audience: the issuer (RFC 10070), the token endpoint (RFC 7523's old allowance, still
 *   required by some providers), the issuer as a one-element array (tolerated by RFC 10070), or a
 *   configured URL;
 * - the explicit type `typ: client-authentication+jwt` (RFC 10070), on or off;
 * - the algorithm, among those the key can sign and the provider lists;
 * - the certificate thumbprints (`x5t#S256`, `x5t`), with or without, when the key has a certificate.
 *
 * Each shape is signed by openid-client (`PrivateKeyJwt` with a `modifyAssertion` hook), exactly as
 * the app signs: a new `jti`, `iat` = `nbf` = now, `iss` = `sub` = client_id.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 * @see https://www.rfc-editor.org/rfc/rfc10070
 */

export type AudienceChoice = 'issuer' | 'token_endpoint' | 'issuer_array' | 'configured_url';

export type AssertionVariant = {
  readonly audience: AudienceChoice;
  readonly typ: boolean;
  /** The `alg` sent. */
  readonly alg: ClientAuthAlg;
  /** Send `x5t#S256` and `x5t` (only when the key has a certificate). */
  readonly thumbprints: boolean;
};

/** What a variant needs to know about the provider. */
export type VariantMetadata = {
  readonly issuer: string;
  readonly token_endpoint?: string | undefined;
  readonly token_endpoint_auth_signing_alg_values_supported?: readonly string[] | undefined;
};

/** One line: `aud=issuer typ=on alg=RS256 x5t=on`. */
export function describeVariant(variant: AssertionVariant, withCertificate: boolean): string {
  return [
    `aud=${variant.audience}`,
    `typ=${variant.typ ? 'on' : 'off'}`,
    `alg=${variant.alg}`,
    ...(withCertificate ? [`x5t=${variant.thumbprints ? 'on' : 'off'}`] : []),
  ].join(' ');
}

/** The algorithms a key of this type can sign, in this app's order of preference. */
function algorithmsForKey(jwk: Pick<PublicJwk, 'kty' | 'crv'>): ClientAuthAlg[] {
  if (jwk.kty === 'RSA') return ['PS256', 'RS256'];
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return ['ES256'];
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return ['EdDSA', 'Ed25519'];
  return [];
}

/** The algorithms worth trying: the key can sign them and the provider lists them (or lists none). */
export function candidateAlgorithms(
  jwk: Pick<PublicJwk, 'kty' | 'crv'>,
  supported: readonly string[] | undefined,
): ClientAuthAlg[] {
  return algorithmsForKey(jwk).filter(
    (alg) => !Array.isArray(supported) || supported.includes(alg),
  );
}

/**
 * The shape the app's current settings produce, or undefined for the algorithm when the provider
 * lists none the signing key would use (the app refuses to sign then).
 */
export function configuredVariant(
  settings: AppConfig['assertion'],
  key: ClientKey,
  metadata: VariantMetadata,
): AssertionVariant | undefined {
  const alg = selectAssertionAlg(key, metadata.token_endpoint_auth_signing_alg_values_supported);
  if (alg === undefined || !(CLIENT_AUTH_ALGS as readonly string[]).includes(alg)) return undefined;
  return {
    audience:
      settings.audience.mode === 'issuer'
        ? 'issuer'
        : settings.audience.mode === 'token_endpoint'
          ? 'token_endpoint'
          : 'configured_url',
    typ: settings.typ,
    alg: alg as ClientAuthAlg,
    thumbprints: key.certificate !== undefined,
  };
}

/** How much a variant gives up against RFC 10070 and FAPI 2.0 (0: nothing). */
function weakness(variant: AssertionVariant, withCertificate: boolean): number {
  const audience = { issuer: 0, issuer_array: 1, configured_url: 4, token_endpoint: 4 }[
    variant.audience
  ];
  return (
    audience +
    (variant.typ ? 0 : 2) +
    (variant.alg === 'RS256' ? 1 : 0) +
    (withCertificate && !variant.thumbprints ? 0.5 : 0)
  );
}

function distance(a: AssertionVariant, b: AssertionVariant): number {
  return (
    Number(a.audience !== b.audience) +
    Number(a.typ !== b.typ) +
    Number(a.alg !== b.alg) +
    Number(a.thumbprints !== b.thumbprints)
  );
}

export type VariantSpace = {
  readonly algorithms: readonly ClientAuthAlg[];
  readonly withCertificate: boolean;
  /** Whether OIDC_CLIENT_ASSERTION_AUDIENCE names a URL (then it is one more audience to try). */
  readonly configuredUrl: boolean;
  readonly hasTokenEndpoint: boolean;
};

/**
 * Every other shape, nearest to `from` first (fewest settings changed), and among equally near
 * ones the strongest first: the first one the provider accepts is the smallest, safest change.
 */
export function listAlternatives(
  from: AssertionVariant | undefined,
  space: VariantSpace,
): AssertionVariant[] {
  const audiences: AudienceChoice[] = [
    'issuer',
    'issuer_array',
    ...(space.hasTokenEndpoint ? (['token_endpoint'] as const) : []),
    ...(space.configuredUrl ? (['configured_url'] as const) : []),
  ];
  const all: AssertionVariant[] = [];
  for (const audience of audiences)
    for (const typ of [true, false])
      for (const alg of space.algorithms)
        for (const thumbprints of space.withCertificate ? [true, false] : [false])
          all.push({ audience, typ, alg, thumbprints });
  const reference = from ?? all[0];
  return all
    .filter((v) => !from || distance(v, from) > 0)
    .sort(
      (a, b) =>
        (reference ? distance(a, reference) - distance(b, reference) : 0) ||
        weakness(a, space.withCertificate) - weakness(b, space.withCertificate),
    );
}

/**
 * The same shape with one weakening undone at a time (issuer audience, `typ` on, a stronger
 * algorithm), for a provider that accepted a weak shape: maybe it takes a stronger one too.
 */
export function listStrongerVariants(
  variant: AssertionVariant,
  space: VariantSpace,
): AssertionVariant[] {
  const stronger: AssertionVariant[] = [];
  if (variant.audience !== 'issuer') stronger.push({ ...variant, audience: 'issuer' });
  if (!variant.typ) stronger.push({ ...variant, typ: true });
  if (variant.alg === 'RS256') {
    for (const alg of space.algorithms.filter((a) => a !== 'RS256'))
      stronger.push({ ...variant, alg });
  }
  return stronger;
}

/** The settings that produce `variant`, and what no setting of this app can produce. */
export type VariantSettings = {
  /** `NAME=value` lines, for every setting that differs from its default. */
  readonly env: readonly string[];
  /** Settings set now that must go back to their default (unset). */
  readonly unset: readonly string[];
  /** Shapes the app cannot send, with what to do instead. */
  readonly unsupported: readonly string[];
};

/**
 * This app's settings for `variant`.
 *
 * @param naturalAlg the algorithm the app sends when OIDC_CLIENT_AUTH_ALG is not set.
 */
export function settingsForVariant(
  variant: AssertionVariant,
  naturalAlg: string | undefined,
  options: {
    readonly current: AppConfig['assertion'];
    readonly withCertificate: boolean;
  },
): VariantSettings {
  const env: string[] = [];
  const unset: string[] = [];
  const unsupported: string[] = [];
  const { current } = options;
  if (variant.audience === 'token_endpoint')
    env.push('OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint');
  else if (variant.audience === 'configured_url' && current.audience.mode === 'url')
    env.push(`OIDC_CLIENT_ASSERTION_AUDIENCE=${current.audience.url}`);
  else if (current.audience.mode !== 'issuer') unset.push('OIDC_CLIENT_ASSERTION_AUDIENCE');
  if (variant.audience === 'issuer_array')
    unsupported.push(
      'the provider accepts the issuer only inside an array; this app sends it as a string (the form RFC 10070 ' +
        'requires providers to accept) and has no setting for an array: ask the provider to accept the string',
    );
  // The app types its assertions by default only with the issuer as audience (lib/config.ts).
  const typByDefault = variant.audience === 'issuer' || variant.audience === 'issuer_array';
  const currentTypByDefault = current.audience.mode === 'issuer';
  if (variant.typ !== typByDefault) env.push(`OIDC_CLIENT_ASSERTION_TYP=${variant.typ}`);
  else if (current.typ !== currentTypByDefault) unset.push('OIDC_CLIENT_ASSERTION_TYP');
  if (variant.alg !== naturalAlg) env.push(`OIDC_CLIENT_AUTH_ALG=${variant.alg}`);
  else if (current.alg !== undefined) unset.push('OIDC_CLIENT_AUTH_ALG');
  if (options.withCertificate && !variant.thumbprints)
    unsupported.push(
      'the provider refuses assertions that name the certificate (x5t#S256, x5t); this app names it whenever the ' +
        'key has one: use the key without its certificate (unset OIDC_CLIENT_CERT_FILE, or a key file without one)',
    );
  return { env, unset, unsupported };
}

/** Why a setting weakens client authentication, for each weakening `variant` carries. */
export function listWeakenings(
  variant: AssertionVariant,
  space: Pick<VariantSpace, 'algorithms'>,
  supported: readonly string[] | undefined,
): string[] {
  const warnings: string[] = [];
  if (variant.audience === 'token_endpoint' || variant.audience === 'configured_url') {
    warnings.push(
      'audience other than the issuer: RFC 10070 forbids it because a malicious provider can publish this ' +
        "provider's token endpoint as its own and replay what the app signed for it there (audience injection); " +
        'only the issuer identifier is bound by discovery. Ask the provider to accept its issuer identifier.',
    );
  }
  if (!variant.typ) {
    warnings.push(
      'typ off: an untyped assertion can be mistaken for another kind of JWT signed with the same key ' +
        '(RFC 8725 §3.11); RFC 10070 types client assertions explicitly (typ client-authentication+jwt).',
    );
  }
  if (variant.alg === 'RS256') {
    const better: string[] = space.algorithms.filter((a) => a !== 'RS256');
    const offeredElsewhere = ['PS256', 'ES256'].filter(
      (a) => supported?.includes(a) && !better.includes(a),
    );
    if (better.length > 0 || offeredElsewhere.length > 0) {
      warnings.push(
        `RS256 while the provider offers ${[...better, ...offeredElsewhere].join(', ')}: RSASSA-PKCS1-v1_5 is the ` +
          `legacy ` +
          'signature scheme; FAPI 2.0 allows only PS256, ES256 and EdDSA. ' +
          (better.length > 0
            ? `This key signs ${better.join(', ')} too (OIDC_CLIENT_AUTH_ALG=${better[0]}).`
            : `That needs a key of another type (npm run keys -- rotate --alg ${offeredElsewhere[0]}).`),
      );
    }
  }
  return warnings;
}

/** The `aud` a variant sends. */
function audienceFor(
  variant: AssertionVariant,
  metadata: VariantMetadata,
  configuredUrl: string | undefined,
): string | string[] {
  switch (variant.audience) {
    case 'issuer':
      return metadata.issuer;
    case 'issuer_array':
      return [metadata.issuer];
    case 'token_endpoint':
      return metadata.token_endpoint ?? metadata.issuer;
    case 'configured_url':
      return configuredUrl ?? metadata.issuer;
  }
}

/**
 * openid-client client authentication that signs `variant` with `key` (which must be able to sign
 * `variant.alg`: RS256 and PS256 need the key imported for each).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 */
export function createVariantAuthentication(
  variant: AssertionVariant,
  key: ClientKey,
  options: {
    lifetimeSeconds: number;
    configuredUrl?: string | undefined;
    /** Also the SHA-1 `x5t` (OIDC_CLIENT_ASSERTION_X5T_SHA1), as the app sends it. */
    x5tSha1?: boolean | undefined;
  },
): client.ClientAuth {
  return (as, clientMetadata, body, headers) =>
    client.PrivateKeyJwt(
      { key: key.privateKey, kid: key.kid },
      {
        [client.modifyAssertion]: (header, payload) => {
          header.alg = variant.alg;
          if (variant.typ) header.typ = CLIENT_ASSERTION_TYP;
          if (variant.thumbprints && key.certificate) {
            header['x5t#S256'] = key.certificate.x5tS256;
            if (options.x5tSha1) header.x5t = key.certificate.x5t;
          }
          payload.aud = audienceFor(variant, as, options.configuredUrl);
          payload.exp = Number(payload.iat) + options.lifetimeSeconds;
        },
      },
    )(as, clientMetadata, body, headers);
}
