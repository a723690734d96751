import { randomBytes } from 'node:crypto';

import type { ClientMetadata, Configuration, JWK } from 'oidc-provider';

/**
 * The bundled provider in FAPI 2.0 mode (`PROVIDER_PROFILE=fapi2`): oidc-provider's own FAPI 2.0
 * Security Profile support (`features.fapi`, profile `2.0`: PKCE for every request, the
 * `redirect_uri` always sent, and its check that a client assertion's `aud` is the issuer
 * identifier), plus what the profile asks of a deployment:
 *
 * - pushed authorization requests, required (RFC 9126 §5, `require_pushed_authorization_requests`);
 * - DPoP, required for this client (`dpop_bound_access_tokens`, RFC 9449 §5.2): every token request
 *   carries a proof, every access token is bound to the client's key; server nonces on demand
 *   (`PROVIDER_DPOP_NONCE=true`, RFC 9449 §8);
 * - PS256 and ES256 only, for client assertions and ID tokens (FAPI 2.0 §5.4.1 allows EdDSA too;
 *   this provider, like many, does not offer it); DPoP proofs also in EdDSA;
 * - an assertion `aud` that is the issuer identifier as a string, not an array (what FAPI 2.0 and
 *   oidc-provider's FAPI mode ask; stricter than RFC 10070's tolerance), checked with the rest in
 *   ./client-assertion-policy.ts.
 *
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html
 * @see https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#featuresfapi
 */

export type ProviderProfile = 'plain' | 'fapi2';

export type Fapi2Settings = {
  readonly profile: ProviderProfile;
  /** Demand a server nonce in every DPoP proof (RFC 9449 §8). */
  readonly dpopNonce: boolean;
};

/** FAPI 2.0 signing algorithms this provider offers for assertions and ID tokens. */
export const FAPI2_SIGNING_ALGS = ['PS256', 'ES256'] as const;

/** The profile settings from the environment. @throws {Error} naming the variable at fault. */
export function fapi2SettingsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Fapi2Settings {
  const profile = env.PROVIDER_PROFILE?.trim() || 'plain';
  if (profile !== 'plain' && profile !== 'fapi2')
    throw new Error(`PROVIDER_PROFILE: unknown profile "${profile}" (use plain or fapi2)`);
  const nonce = env.PROVIDER_DPOP_NONCE?.trim().toLowerCase() ?? 'false';
  if (!['true', 'false', '1', '0'].includes(nonce))
    throw new Error(`PROVIDER_DPOP_NONCE: "${env.PROVIDER_DPOP_NONCE}" is not true or false`);
  return { profile, dpopNonce: nonce === 'true' || nonce === '1' };
}

/** The client's registration under the profile: DPoP-bound tokens, PS256 ID tokens. */
export function fapi2ClientMetadata(settings: Fapi2Settings): Partial<ClientMetadata> {
  if (settings.profile !== 'fapi2') return {};
  return { dpop_bound_access_tokens: true, id_token_signed_response_alg: 'PS256' };
}

/**
 * The provider's signing keys under the profile: an RSA key declared for RS256 cannot sign PS256
 * (oidc-provider picks keys by their `alg`), so the declaration is dropped and the same key signs
 * PS256. The key stays the one the plain profile uses (the demo keeps it across restarts).
 */
export function fapi2SigningKeys(keys: readonly JWK[], settings: Fapi2Settings): JWK[] {
  if (settings.profile !== 'fapi2') return [...keys];
  return keys.map((key) => {
    if (key.kty !== 'RSA') return key;
    const { alg: _declared, ...rest } = key;
    return rest as JWK;
  });
}

/** The `features` entries the profile sets. */
export type ProfileFeatures = {
  readonly dPoP: { enabled: true; nonceSecret: Buffer; requireNonce: () => boolean };
  readonly fapi?: { enabled: true; profile: '2.0' };
  readonly pushedAuthorizationRequests?: {
    enabled: true;
    requirePushedAuthorizationRequests: boolean;
  };
};

/** The configuration entries the profile changes (merged over the plain configuration). */
export function fapi2Configuration(
  settings: Fapi2Settings,
): Pick<Configuration, 'enabledJWA'> & { features: ProfileFeatures } {
  const dPoP = {
    enabled: true as const,
    // Nonces are derived from this secret: a new one per process is fine for a demo provider.
    nonceSecret: randomBytes(32),
    requireNonce: () => settings.dpopNonce,
  };
  if (settings.profile !== 'fapi2') {
    return {
      enabledJWA: {
        clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'],
      },
      features: { dPoP },
    };
  }
  return {
    enabledJWA: {
      clientAuthSigningAlgValues: [...FAPI2_SIGNING_ALGS],
      idTokenSigningAlgValues: [...FAPI2_SIGNING_ALGS],
      dPoPSigningAlgValues: ['ES256', 'PS256', 'EdDSA', 'Ed25519'],
    },
    features: {
      fapi: { enabled: true, profile: '2.0' },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
      dPoP,
    },
  };
}
