import type { ConfigProblem } from './errors';

/**
 * The protocol profile: `OIDC_PROFILE`, `OIDC_PAR`, `OIDC_DPOP` and the API's DPoP settings,
 * parsed and checked against each other. Kept apart from ./config.ts (which calls it) because it
 * is one decision: the FAPI 2.0 Security Profile switch, and what it forbids.
 *
 * `OIDC_PROFILE=fapi2` turns on pushed authorization requests (RFC 9126), DPoP-bound tokens
 * (RFC 9449) and the RFC 9207 `iss` check, and narrows the algorithms. A setting that contradicts
 * it is a configuration error naming that setting, never a silent override: an operator who wrote
 * `OIDC_PAR=false` must learn that the profile needs it, not find it ignored.
 *
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html (§5.3 clients, §5.4 cryptography)
 * @see https://www.rfc-editor.org/rfc/rfc9126 (PAR)
 * @see https://www.rfc-editor.org/rfc/rfc9449 (DPoP)
 */

export const PROFILES = ['plain', 'fapi2'] as const;
export type Profile = (typeof PROFILES)[number];

/** DPoP key types this client generates: ES256 (P-256) or EdDSA (Ed25519). */
export const DPOP_ALGS = ['ES256', 'EdDSA'] as const;
export type DpopAlg = (typeof DPOP_ALGS)[number];

/** The JWS algorithms FAPI 2.0 allows (its §5.4.1): PS256, ES256, EdDSA (Ed25519, RFC 9864's name too). */
export const FAPI2_ALGS = ['PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;

/** Longest client assertion under FAPI 2.0 here, seconds. */
export const FAPI2_MAX_ASSERTION_LIFETIME_SECONDS = 60;

/**
 * Algorithms the API accepts on DPoP proofs: asymmetric only (RFC 9449 §4.3 check 5: never
 * `none`, never a MAC), and FAPI 2.0's list under that profile.
 */
export const DPOP_PROOF_ALGS: readonly string[] = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
];

export type ProtocolProfile = {
  readonly profile: Profile;
  /**
   * Pushed authorization requests (RFC 9126): `on` always, `off` never, `auto` when the provider's
   * metadata says `require_pushed_authorization_requests` (checked at discovery).
   */
  readonly par: 'auto' | 'on' | 'off';
  /** DPoP-bound tokens (RFC 9449) for the user's session and the machine-to-machine call. */
  readonly dpop: { readonly enabled: boolean; readonly alg: DpopAlg };
  /**
   * The only algorithms the client assertion may be signed with (FAPI 2.0 §5.4.1), or undefined
   * when any this client signs is fine.
   */
  readonly assertionAlgs: readonly string[] | undefined;
  /** Require RFC 9207 `iss` in every authorization response, whatever the provider advertises. */
  readonly requireIssParameter: boolean;
  /** How the protected API treats DPoP (RFC 9449 §7). It always accepts DPoP-bound tokens. */
  readonly apiDpop: {
    /** Announce `DPoP algs=…` in challenges to Bearer and anonymous requests (RFC 9449 §7.2). */
    readonly advertised: boolean;
    /** Refuse access tokens without `cnf` (FAPI 2.0: sender-constrained tokens only). */
    readonly required: boolean;
    /** Demand a server nonce in every proof (RFC 9449 §9). */
    readonly nonce: boolean;
    /** Proof algorithms accepted, announced in `algs`. */
    readonly algorithms: readonly string[];
  };
};

type Raw = (name: string) => string | undefined;

function parseTriState(
  problems: ConfigProblem[],
  variable: string,
  raw: string | undefined,
): boolean | undefined {
  if (raw === undefined) return undefined;
  const lowered = raw.toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(lowered)) return true;
  if (['0', 'false', 'off', 'no'].includes(lowered)) return false;
  problems.push({ variable, message: `"${raw}" is not a boolean`, fix: 'use true or false' });
  return undefined;
}

function contradiction(variable: string, raw: string, needs: string, fix: string): ConfigProblem {
  return {
    variable,
    message: `"${raw}" contradicts OIDC_PROFILE=fapi2, which ${needs}`,
    fix,
  };
}

/** What the rest of the configuration says, for the profile's cross-checks. */
export type ProfileContext = {
  /** OIDC_CLIENT_ASSERTION_AUDIENCE as written (undefined: the issuer). */
  readonly assertionAudience: string | undefined;
  readonly assertionLifetimeSeconds: number;
  /** OIDC_CLIENT_AUTH_ALG as written. */
  readonly assertionAlg: string | undefined;
  /** OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG as written. */
  readonly idTokenAlg: string | undefined;
};

/**
 * Parses the profile settings and checks the rest of the configuration against the profile.
 * Problems are appended to `problems`; the result is usable either way.
 *
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html
 */
export function parseProtocolProfile(
  raw: Raw,
  problems: ConfigProblem[],
  context: ProfileContext,
): ProtocolProfile {
  const profileRaw = raw('OIDC_PROFILE');
  let profile: Profile = 'plain';
  if (profileRaw !== undefined) {
    if ((PROFILES as readonly string[]).includes(profileRaw)) profile = profileRaw as Profile;
    else
      problems.push({
        variable: 'OIDC_PROFILE',
        message: `"${profileRaw}" is not a profile`,
        fix: `use one of ${PROFILES.join(', ')} (or leave it unset for plain)`,
      });
  }
  const fapi2 = profile === 'fapi2';

  const parRaw = raw('OIDC_PAR');
  const par = parseTriState(problems, 'OIDC_PAR', parRaw);
  const dpopRaw = raw('OIDC_DPOP');
  const dpop = parseTriState(problems, 'OIDC_DPOP', dpopRaw);
  const dpopAlgRaw = raw('OIDC_DPOP_ALG');
  let dpopAlg: DpopAlg = 'ES256';
  if (dpopAlgRaw !== undefined) {
    if ((DPOP_ALGS as readonly string[]).includes(dpopAlgRaw)) dpopAlg = dpopAlgRaw as DpopAlg;
    else
      problems.push({
        variable: 'OIDC_DPOP_ALG',
        message: `"${dpopAlgRaw}" is not a DPoP key type this client generates`,
        fix: `use one of ${DPOP_ALGS.join(', ')}`,
      });
  }
  const apiRequiredRaw = raw('API_DPOP_REQUIRED');
  const apiRequired = parseTriState(problems, 'API_DPOP_REQUIRED', apiRequiredRaw);
  const apiNonce = parseTriState(problems, 'API_DPOP_NONCE', raw('API_DPOP_NONCE'));

  if (fapi2) {
    // MUST: FAPI 2.0 clients push their authorization requests (RFC 9126) and use
    // sender-constrained tokens; a profile that quietly drops either is not FAPI 2.0.
    if (par === false && parRaw !== undefined)
      problems.push(
        contradiction(
          'OIDC_PAR',
          parRaw,
          'sends every authorization request through PAR (RFC 9126)',
          'remove OIDC_PAR or set it to true',
        ),
      );
    if (dpop === false && dpopRaw !== undefined)
      problems.push(
        contradiction(
          'OIDC_DPOP',
          dpopRaw,
          'requires sender-constrained (DPoP, RFC 9449) access tokens',
          'remove OIDC_DPOP or set it to true',
        ),
      );
    if (apiRequired === false && apiRequiredRaw !== undefined)
      problems.push(
        contradiction(
          'API_DPOP_REQUIRED',
          apiRequiredRaw,
          'accepts only sender-constrained access tokens at the API',
          'remove API_DPOP_REQUIRED or set it to true',
        ),
      );
    const audience = context.assertionAudience;
    if (audience !== undefined && audience !== 'issuer')
      problems.push(
        contradiction(
          'OIDC_CLIENT_ASSERTION_AUDIENCE',
          audience,
          'requires the issuer identifier as the assertion audience (RFC 10070)',
          'remove OIDC_CLIENT_ASSERTION_AUDIENCE or set it to issuer',
        ),
      );
    if (context.assertionLifetimeSeconds > FAPI2_MAX_ASSERTION_LIFETIME_SECONDS)
      problems.push(
        contradiction(
          'OIDC_CLIENT_ASSERTION_LIFETIME',
          String(context.assertionLifetimeSeconds),
          `caps the client assertion lifetime at ${FAPI2_MAX_ASSERTION_LIFETIME_SECONDS} s`,
          `set it to ${FAPI2_MAX_ASSERTION_LIFETIME_SECONDS} or less`,
        ),
      );
    const allowed = FAPI2_ALGS as readonly string[];
    if (context.assertionAlg !== undefined && !allowed.includes(context.assertionAlg))
      problems.push(
        contradiction(
          'OIDC_CLIENT_AUTH_ALG',
          context.assertionAlg,
          'allows only PS256, ES256 and EdDSA (FAPI 2.0 §5.4.1)',
          'use PS256 with an RSA key, or an EC P-256 (ES256) or Ed25519 (EdDSA) key',
        ),
      );
    if (context.idTokenAlg !== undefined && !allowed.includes(context.idTokenAlg))
      problems.push(
        contradiction(
          'OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG',
          context.idTokenAlg,
          'allows only PS256, ES256 and EdDSA ID tokens (FAPI 2.0 §5.4.1)',
          'register PS256, ES256 or EdDSA for ID tokens at the provider and set it here',
        ),
      );
  }

  const dpopEnabled = fapi2 || dpop === true;
  return Object.freeze({
    profile,
    par: fapi2 || par === true ? 'on' : par === false ? 'off' : 'auto',
    dpop: Object.freeze({ enabled: dpopEnabled, alg: dpopAlg }),
    assertionAlgs: fapi2 ? FAPI2_ALGS : undefined,
    requireIssParameter: fapi2,
    apiDpop: Object.freeze({
      advertised: dpopEnabled || apiRequired === true || apiNonce === true,
      required: fapi2 || apiRequired === true,
      nonce: apiNonce === true,
      algorithms: fapi2 ? FAPI2_ALGS : DPOP_PROOF_ALGS,
    }),
  });
}

/** The ID-token algorithm when OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG is unset. */
export function defaultIdTokenAlg(profile: Profile): string {
  // OIDC Registration's default is RS256, which FAPI 2.0 does not allow; PS256 needs the same
  // RSA keys at the provider.
  return profile === 'fapi2' ? 'PS256' : 'RS256';
}
