import { AsyncLocalStorage } from 'node:async_hooks';

import * as client from 'openid-client';

import { CLIENT_AUTH_ALGS, ED25519_ALG_NAMES, isClientAuthAlg, isEd25519Alg } from './algorithms';
import type { AppConfig, AssertionAudience } from './config';
import { ConfigError, type ConfigProblem } from './errors';
import type { ClientKey, ClientKeySet } from './keys';
import { processSingleton } from './process-slot';

/**
 * The client assertion: the signed JWT this app authenticates with instead of a client secret.
 *
 * openid-client builds and signs it (`PrivateKeyJwt`): `iss` = `sub` = client_id, a random `jti`
 * of 256 bits, `iat`, `nbf`, and `aud` = the issuer identifier. Its `modifyAssertion` hook adds
 * what RFC 10070 asks for on top (the explicit `typ`), the certificate thumbprints when the key has
 * a certificate, applies the configured lifetime, and, only when explicitly configured for a
 * legacy provider, another audience.
 *
 * The client authentication function is installed once in the openid-client Configuration
 * (lib/discovery.ts), so every request that authenticates the client — code exchange, refresh, client
 * credentials, revocation, introspection, PAR — goes through it. openid-client calls it once per
 * HTTP request, retries included, and each call reads the current key set (so a promoted key
 * signs from the next request on), the current clock offset, and signs a new assertion with a new
 * `jti`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3 (JWT format and processing)
 * @see https://www.rfc-editor.org/rfc/rfc10070 (audience = issuer identifier, explicit typing)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#ClientAuthentication (private_key_jwt)
 */

/** RFC 10070 explicit type of client-authentication JWTs. */
export const CLIENT_ASSERTION_TYP = 'client-authentication+jwt';

/** `client_assertion_type` for a JWT bearer client assertion (RFC 7523 §2.2). */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The provider metadata the audience depends on. */
export type AudienceMetadata = {
  readonly issuer: string;
  readonly token_endpoint?: string | undefined;
};

/**
 * The `aud` value for the assertion.
 *
 * MUST: the default is the issuer identifier as one string. RFC 10070 forbids the token endpoint
 * URL as audience because a malicious provider can publish another provider's token endpoint as
 * its own and replay what the client signed there; only the issuer is bound by discovery.
 *
 * @see https://www.rfc-editor.org/rfc/rfc10070
 */
export function resolveAudience(audience: AssertionAudience, metadata: AudienceMetadata): string {
  switch (audience.mode) {
    case 'issuer':
      return metadata.issuer;
    case 'token_endpoint':
      if (!metadata.token_endpoint)
        throw new TypeError('the provider metadata has no token_endpoint');
      return metadata.token_endpoint;
    case 'url':
      return audience.url;
  }
}

/**
 * Refuses an audience URL (`OIDC_CLIENT_ASSERTION_AUDIENCE=<url>`) on an origin that is neither
 * the issuer's nor the token endpoint's, unless `OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE=true`.
 *
 * MUST: the assertion is accepted wherever its audience points; one signed for another origin is a
 * credential for a server that is not this provider (the audience-injection attack RFC 10070
 * answers), so a typo or a pasted URL must not quietly make one.
 *
 * @returns the problem, or undefined when the audience is acceptable.
 * @see https://www.rfc-editor.org/rfc/rfc10070
 */
export function findAudienceOriginProblem(
  audience: AssertionAudience,
  metadata: AudienceMetadata,
): ConfigProblem | undefined {
  if (audience.mode !== 'url' || audience.anyOrigin) return undefined;
  const origins = [metadata.issuer, metadata.token_endpoint]
    .filter((u): u is string => typeof u === 'string' && URL.canParse(u))
    .map((u) => new URL(u).origin);
  if (URL.canParse(audience.url) && origins.includes(new URL(audience.url).origin))
    return undefined;
  return {
    variable: 'OIDC_CLIENT_ASSERTION_AUDIENCE',
    message:
      `${audience.url} is not on the provider's origin (issuer ${metadata.issuer}, ` +
      `token endpoint ${metadata.token_endpoint ?? 'none'}): ` +
      'an assertion for it would authenticate this client at another server',
    fix:
      'use issuer (RFC 10070) or token_endpoint; set OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE=true ' +
      'only if the provider really expects this URL',
  };
}

/**
 * The JWS `alg` to send for a key, given the provider's
 * `token_endpoint_auth_signing_alg_values_supported` (undefined: the provider does not say).
 *
 * A declared algorithm is sent as declared, because the published JWK carries the same name and
 * verifiers match the two exactly. An Ed25519 key nobody named may go by either name: `EdDSA`
 * (RFC 8037, what most providers list) unless the provider lists only `Ed25519` (RFC 9864).
 *
 * @returns undefined when the provider accepts no name this key can sign with.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function selectAssertionAlg(
  key: Pick<ClientKey, 'alg' | 'algDeclared'>,
  supported: readonly string[] | undefined,
): string | undefined {
  const candidates: readonly string[] =
    isEd25519Alg(key.alg) && !key.algDeclared ? ED25519_ALG_NAMES : [key.alg];
  if (!Array.isArray(supported)) return candidates[0];
  return candidates.find((alg) => supported.includes(alg));
}

/**
 * What to tell the operator when the provider does not accept how this client would sign.
 *
 * @returns undefined when the provider accepts the signing key's algorithm.
 */
export function describeAlgIncompatibility(
  key: Pick<ClientKey, 'alg' | 'algDeclared' | 'kid'>,
  supported: readonly string[] | undefined,
): ConfigProblem | undefined {
  if (selectAssertionAlg(key, supported) !== undefined) return undefined;
  if (Array.isArray(supported) && supported.length === 0) {
    // An empty list names no algorithm at all: no key of any type is accepted, so the fault is
    // the provider's metadata, which RFC 8414 §2 requires to list them when private_key_jwt is on.
    return {
      variable: 'OIDC_CLIENT_AUTH_ALG',
      message:
        `the client would sign with ${key.alg} (key ${key.kid}), but the provider lists no ` +
        `algorithm in token_endpoint_auth_signing_alg_values_supported`,
      fix:
        'ask the provider to list the algorithms it accepts for private_key_jwt (RFC 8414 §2: ' +
        'the member must be present when private_key_jwt is offered)',
    };
  }
  const accepted = (supported ?? []).join(', ');
  const sameKey = isEd25519Alg(key.alg)
    ? ED25519_ALG_NAMES.filter((name) => supported?.includes(name))
    : [];
  const rsaAlternative =
    (key.alg === 'RS256' || key.alg === 'PS256') &&
    supported?.includes(key.alg === 'RS256' ? 'PS256' : 'RS256');
  // Only an algorithm the provider lists is worth a new key; none listed that this client signs:
  // no key helps, and the provider must accept one of the client's.
  const otherKeyAlg = (supported ?? []).find(isClientAuthAlg);
  const fix = sameKey.length
    ? `set OIDC_CLIENT_AUTH_ALG=${sameKey[0]} (the same Ed25519 signature under the ` +
      `name the provider lists; the published JWK follows)`
    : rsaAlternative
      ? `set OIDC_CLIENT_AUTH_ALG=${key.alg === 'RS256' ? 'PS256' : 'RS256'} (this RSA ` +
        `key can sign it; the published JWK follows)`
      : otherKeyAlg
        ? `use a key of a type the provider accepts (npm run keys -- rotate --alg ${otherKeyAlg})`
        : `this client signs only ${CLIENT_AUTH_ALGS.join(', ')}: ask the provider to accept one of them`;
  return {
    variable: 'OIDC_CLIENT_AUTH_ALG',
    message:
      `the client would sign with ${key.alg} (key ${key.kid}), but the provider ` +
      `accepts only ${accepted} (token_endpoint_auth_signing_alg_values_supported)`,
    fix,
  };
}

export type ClientAuthenticationSources = {
  /** The current key set; read for every request, so that a reloaded key file takes effect. */
  readonly keys: () => Promise<ClientKeySet>;
  /** Seconds to add to this machine's clock (lib/clock-skew.ts). */
  readonly clockSkew: () => number;
};

/**
 * openid-client client authentication that signs a fresh assertion with the current signing key
 * for every request.
 *
 * @param allowedAlgs the only algorithms the profile allows (FAPI 2.0), if it restricts them.
 * @throws {ConfigError} (wrapped by openid-client into a ClientError's `cause`) before anything is
 *   sent, when the provider does not accept the signing key's algorithm, or the profile does not.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2 (using JWTs for client authentication)
 */
export function createClientAuthentication(
  settings: AppConfig['assertion'],
  sources: ClientAuthenticationSources,
  allowedAlgs?: readonly string[],
): client.ClientAuth {
  const signFresh: client.ClientAuth = async (as, clientMetadata, body, headers) => {
    const { signing } = await sources.keys();
    const supported = as.token_endpoint_auth_signing_alg_values_supported;
    const alg = selectAssertionAlg(signing, supported);
    if (alg === undefined) {
      // MUST: stop before sending; an assertion the provider cannot verify only yields invalid_client.
      throw new ConfigError([describeAlgIncompatibility(signing, supported) as ConfigProblem]);
    }
    // MUST: the profile's algorithms hold for every assertion, a key promoted since start included.
    if (allowedAlgs && !allowedAlgs.includes(alg)) {
      throw new ConfigError([
        {
          variable: 'OIDC_CLIENT_AUTH_ALG',
          message: `the signing key ${signing.kid} signs ${alg}, which OIDC_PROFILE=fapi2 does not allow`,
          fix: `use a key that signs ${allowedAlgs.join(', ')}`,
        },
      ]);
    }
    const sign = client.PrivateKeyJwt(
      { key: signing.privateKey, kid: signing.kid },
      {
        [client.modifyAssertion]: (header, payload) => {
          header.alg = alg;
          if (settings.typ) header.typ = CLIENT_ASSERTION_TYP;
          if (signing.certificate) {
            // RFC 7515 §4.1.8: identifies the certificate (and so the key) to providers that
            // register certificates (Entra ID reads `x5t#S256`). The SHA-1 `x5t` (§4.1.7) only on
            // request, for the providers that still need it (AD FS).
            header['x5t#S256'] = signing.certificate.x5tS256;
            if (settings.x5tSha1) header.x5t = signing.certificate.x5t;
          }
          payload.aud = resolveAudience(settings.audience, as);
          // MUST: short-lived. openid-client sets iat = nbf = now, corrected by the clock skew.
          payload.exp = Number(payload.iat) + settings.lifetimeSeconds;
        },
      },
    );
    // openid-client freezes the client metadata at discovery; the clock offset is learned later
    // and changes, so it travels with each call instead.
    return sign(as, { ...clientMetadata, [client.clockSkew]: sources.clockSkew() }, body, headers);
  };
  const auth: client.ClientAuth = async (as, clientMetadata, body, headers) => {
    const slot = preparedSlots.getStore();
    const prepared = slot?.prepared;
    if (slot === undefined || prepared?.auth !== auth)
      return signFresh(as, clientMetadata, body, headers);
    // MUST: a prepared assertion authenticates one request: a retry (a DPoP nonce, another
    // request of the same operation) signs a new one, with a new `jti`.
    slot.prepared = undefined;
    // One prepared long before (a store that took its time to answer) has spent part of its
    // lifetime: a new one goes instead.
    if (Date.now() - prepared.preparedAt > PREPARED_ASSERTION_MAX_AGE_MS)
      return signFresh(as, clientMetadata, body, headers);
    const made = await prepared.made;
    for (const [name, value] of made.body) body.set(name, value);
    for (const [name, value] of made.headers) headers.set(name, value);
  };
  return auth;
}

/**
 * A client authentication made ahead of the request it is for ({@link prepareClientAuthentication}):
 * the members it adds to the request's body and headers.
 */
export type PreparedClientAuthentication = {
  readonly auth: client.ClientAuth;
  /** When it was begun, ms since the epoch. */
  readonly preparedAt: number;
  readonly made: Promise<{ readonly body: URLSearchParams; readonly headers: Headers }>;
};

/**
 * A prepared client authentication older than this is not used (a new assertion is signed): the
 * lifetime of an assertion (OIDC_CLIENT_ASSERTION_LIFETIME) may be as short as 5 s.
 */
export const PREPARED_ASSERTION_MAX_AGE_MS = 1000;

type PreparedSlot = { prepared: PreparedClientAuthentication | undefined };

// One per process, not per bundle: the Configuration's client authentication may come from another
// bundle than the route handler that prepares an assertion.
const preparedSlots = processSingleton(
  'prepared-client-authentication',
  () => new AsyncLocalStorage<PreparedSlot>(),
);

/**
 * Begins the client authentication of a request that is about to be made, so that the assertion
 * is signed while the caller waits for something else (a signature is a WebCrypto job, which
 * leaves this thread idle): the sign-in's callback signs the assertion that redeems its code
 * while the session store answers. It is a new assertion all the same (its own `jti`, `iat` and
 * `exp`, from the key and clock offset of now), signed by `auth` itself, the function installed in
 * the Configuration (see {@link createClientAuthentication}), for the request whose `as` and
 * `clientMetadata` are given. Nothing is sent: an assertion never used is never seen.
 *
 * Used by the first request `auth` is called for within {@link withPreparedClientAuthentication}
 * and by no other, unless older than {@link PREPARED_ASSERTION_MAX_AGE_MS}; a failure to sign (a
 * key the provider does not accept) is thrown there, where it would have been. Never rejects
 * unhandled.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3 (the assertion's `jti`, `exp`)
 */
export function prepareClientAuthentication(
  auth: client.ClientAuth,
  as: client.ServerMetadata,
  clientMetadata: client.ClientMetadata,
): PreparedClientAuthentication {
  const preparedAt = Date.now();
  const body = new URLSearchParams();
  const headers = new Headers();
  // Outside any slot: signs a new assertion, whatever the caller's context holds.
  const made = preparedSlots.run({ prepared: undefined }, async () => {
    await auth(as, clientMetadata, body, headers);
    return { body, headers };
  });
  made.catch(() => undefined);
  return { auth, preparedAt, made };
}

/**
 * Runs `fn` so that the first client authentication it causes is `prepared` (when it comes from the
 * same client authentication function), and every later one is signed then.
 */
export function withPreparedClientAuthentication<T>(
  prepared: PreparedClientAuthentication | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  return prepared === undefined ? fn() : preparedSlots.run({ prepared }, fn);
}
