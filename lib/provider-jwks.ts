import {
  createRemoteJWKSet,
  customFetch,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyOptions,
  type ProtectedHeaderParameters,
  type RemoteJWKSet,
} from 'jose';

import { backChannelFetch } from './back-channel';

/**
 * The provider's signing keys (its `jwks_uri`), fetched once and cached, refetched when a JWT
 * names a `kid` the cache does not have: that is how a provider's key rotation reaches us.
 *
 * jose does the fetching, caching, key selection and verification. What this module adds is the
 * refetch policy. jose refetches on an unknown `kid` at most once per cooldown; for tokens that
 * arrive over the authenticated back channel (the token endpoint's ID token) a provider that
 * rotated just before signing must not be refused, so {@link ProviderJwks.verify} forces one
 * refetch for them. Bearer tokens sent by anyone (a resource server's input) keep the cooldown, so
 * garbage `kid`s cannot make the app hammer the provider.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#RotateSigKeys
 */

export type VerifiedJwt = { readonly payload: JWTPayload; readonly protectedHeader: ProtectedHeaderParameters };

export type ProviderJwks = {
  /**
   * Verifies a JWT's signature against the provider's keys.
   *
   * @param trustedChannel The JWT came from the provider over the back channel; allows a forced
   *   refetch on an unknown `kid` regardless of the cooldown.
   */
  verify(jwt: string, options: JWTVerifyOptions, trustedChannel: boolean): Promise<VerifiedJwt>;
};

/** Minimum time between refetches caused by an unknown `kid` on untrusted input. */
export const JWKS_COOLDOWN_MS = 30_000;
/** Cached keys are refreshed at least this often. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

export type ProviderJwksOptions = {
  /** Overrides {@link JWKS_COOLDOWN_MS} (tests of the refetch, which cannot wait 30 s). */
  readonly cooldownMs?: number;
};

/** A cached, self-refreshing view of the provider's JWKS. */
export function createProviderJwks(jwksUri: string, timeoutMs: number, options: ProviderJwksOptions = {}): ProviderJwks {
  const remote: RemoteJWKSet = createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: timeoutMs,
    cooldownDuration: options.cooldownMs ?? JWKS_COOLDOWN_MS,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    [customFetch]: backChannelFetch,
  });
  return {
    async verify(jwt, options, trustedChannel) {
      try {
        return await jwtVerify(jwt, remote, options);
      } catch (err) {
        if (!trustedChannel || !(err instanceof errors.JWKSNoMatchingKey)) throw err;
        await remote.reload();
        return jwtVerify(jwt, remote, options);
      }
    },
  };
}
