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
 * refetch policy. jose refetches on an unknown `kid` at most once per cooldown after any fetch;
 * for tokens that arrive over the authenticated back channel (the token endpoint's ID token) a
 * provider that rotated just before signing must not be refused, so {@link ProviderJwks.verify}
 * forces one refetch for them. Tokens anyone can send (a logout token, a bearer token at the
 * resource server) may force one refetch per cooldown in all, whatever the other fetches: a key
 * rotated in since the last fetch is still found, and garbage `kid`s cannot make the app hammer
 * the provider.
 *
 * A JWT without `kid` is accepted only when the provider publishes a single signing key: OpenID
 * Connect Core §10.1 requires a `kid` as soon as the JWK Set holds several keys, and guessing
 * among them would accept a token the provider may have meant for another purpose. Keys marked
 * `use: enc` do not count (§10.1 makes `use` required when both kinds are published).
 *
 * Failing to obtain the keys (timeout, an error status, a malformed JWKS) is reported with the
 * code {@link JWKS_UNAVAILABLE}, apart from a token that does not verify.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#RotateSigKeys
 * @see https://openid.net/specs/openid-connect-core-1_0.html#Signing (§10.1, kid)
 */

export type VerifiedJwt = {
  readonly payload: JWTPayload;
  readonly protectedHeader: ProtectedHeaderParameters;
};

export type ProviderJwks = {
  /**
   * Verifies a JWT's signature against the provider's keys.
   *
   * @param trustedChannel The JWT came from the provider over the back channel; allows a forced
   *   refetch on an unknown `kid` regardless of the cooldown.
   */
  verify(jwt: string, options: JWTVerifyOptions, trustedChannel: boolean): Promise<VerifiedJwt>;
};

/**
 * Seconds of clock difference allowed on the time claims of the provider's JWTs (the ID token, a
 * signed UserInfo response, the ID token of a refresh): openid-client's default, which it applies
 * to them too.
 */
export const PROVIDER_JWT_CLOCK_TOLERANCE_SECONDS = 30;

/** `code` of the error thrown when the provider's JWKS cannot be fetched or read. */
export const JWKS_UNAVAILABLE = 'JWKS_UNAVAILABLE';

/** The provider's keys could not be obtained (as opposed to a token that does not verify). */
class JwksUnavailableError extends Error {
  readonly code = JWKS_UNAVAILABLE;
}

/**
 * Minimum time between refetches caused by an unknown `kid`: jose's own (after any fetch), and
 * apart from it the ones untrusted input forces (see {@link createProviderJwks}).
 */
export const JWKS_COOLDOWN_MS = 30_000;
/** Cached keys are refreshed at least this often. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

export type ProviderJwksOptions = {
  /** Overrides {@link JWKS_COOLDOWN_MS} (tests of the refetch, which cannot wait 30 s). */
  readonly cooldownMs?: number;
};

// jose's own failures to fetch or read a JWKS: a timeout, a non-200 answer or unparsable JSON
// (the generic JOSEError is thrown only there), a malformed key set. Failures of the transport
// itself are marked where they happen ({@link fetchJwks}).
const FETCH_FAILURE_CODES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID']);

function classifyFetchFailure(err: unknown): unknown {
  if (err instanceof JwksUnavailableError) return err;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && FETCH_FAILURE_CODES.has(code)
    ? new JwksUnavailableError(
        `the provider's JWKS could not be obtained: ${(err as Error).message}`,
        { cause: err },
      )
    : err;
}

/**
 * The JWKS request, its failure (network, deadline, an oversized body) reported as
 * {@link JwksUnavailableError} at once. MUST: told apart here, not by the error's class later:
 * jose also throws a TypeError for a key it refuses (an RSA key under 2048 bits, RFC 7518 §3.3),
 * which is the token's or the provider's key's fault, not an unreachable provider.
 */
const fetchJwks: typeof backChannelFetch = async (input, init) => {
  try {
    return await backChannelFetch(input, init);
  } catch (err) {
    throw new JwksUnavailableError(
      `the provider's JWKS could not be obtained: ${(err as Error).message}`,
      { cause: err },
    );
  }
};

/**
 * MUST (OIDC Core §10.1): without a `kid`, a JWT is accepted only when one signing key is
 * published. jose alone refuses a kid-less JWT only when several keys fit its `alg`; this is
 * stricter on purpose: it also refuses one when keys of other types are published beside it.
 */
function requireKidAmongSeveralKeys(verified: VerifiedJwt, remote: RemoteJWKSet): VerifiedJwt {
  if (verified.protectedHeader.kid !== undefined) return verified;
  const signingKeys = (remote.jwks()?.keys ?? []).filter(
    (key) => key.use === undefined || key.use === 'sig',
  );
  if (signingKeys.length > 1) {
    throw new errors.JWKSMultipleMatchingKeys(
      `the JWT has no kid but the provider publishes ${signingKeys.length} signing ` +
        `keys (OpenID Connect Core §10.1 requires a kid then)`,
    );
  }
  return verified;
}

/** A cached, self-refreshing view of the provider's JWKS. */
export function createProviderJwks(
  jwksUri: string,
  timeoutMs: number,
  options: ProviderJwksOptions = {},
): ProviderJwks {
  const cooldownMs = options.cooldownMs ?? JWKS_COOLDOWN_MS;
  const remote: RemoteJWKSet = createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: timeoutMs,
    cooldownDuration: cooldownMs,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    [customFetch]: fetchJwks,
  });
  // When untrusted input last forced a refetch (performance.now(), ms).
  let untrustedRefetchAt = Number.NEGATIVE_INFINITY;
  return {
    async verify(jwt, options, trustedChannel) {
      // Outside its cooldown jose refetches by itself on an unknown kid; a second forced refetch
      // would only ask the provider the same question twice.
      const joseRefetches = !remote.coolingDown;
      try {
        return requireKidAmongSeveralKeys(await jwtVerify(jwt, remote, options), remote);
      } catch (err) {
        if (joseRefetches || !(err instanceof errors.JWKSNoMatchingKey))
          throw classifyFetchFailure(err);
        if (!trustedChannel) {
          // MUST: untrusted input (a logout token, a bearer token: anyone can send one) forces at
          // most one refetch per cooldown, counted apart from every other fetch: junk kids cannot
          // flood the provider, and a key the provider began signing with after the last fetch is
          // still found (a logout signed with it, refused 400, is never sent again).
          if (performance.now() - untrustedRefetchAt < cooldownMs) throw classifyFetchFailure(err);
          untrustedRefetchAt = performance.now();
        }
      }
      try {
        await remote.reload();
        return requireKidAmongSeveralKeys(await jwtVerify(jwt, remote, options), remote);
      } catch (err) {
        throw classifyFetchFailure(err);
      }
    },
  };
}
