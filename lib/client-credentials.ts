import * as client from 'openid-client';

import { createTrace, withTrace, type BackChannelTrace } from './back-channel';
import { getConfig } from './config';
import { checkDpopBinding, generateDpopKey, getDpopHandle, type DpopKey } from './dpop-client';
import { AuthError, type AuthErrorCode } from './errors';
import { describeError } from './log';
import { findConfigError, getProvider, isNetworkError } from './discovery';
import { processSingleton, processSlot } from './process-slot';
import { classifyTokenEndpointRefusal } from './token-endpoint-answer';
import { createTokenCache, type TokenCache, type TokenLease } from './token-cache';

/**
 * The client-credentials grant: the app gets an access token for the API as itself, no user
 * involved, authenticating at the token endpoint exactly as it does when it redeems a sign-in
 * code: with a client assertion signed just now by its private key (private_key_jwt), through the
 * same openid-client Configuration (./discovery.ts) and client authentication (./client-assertion.ts).
 * It is IdentityModel's `RequestClientCredentialsTokenAsync` with a `ClientAssertion`.
 *
 * openid-client signs a new assertion for every token request; the token itself is cached and
 * refreshed single-flight by ./token-cache.ts, so a busy app makes one token request per token
 * lifetime, not one per API call.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4 (client credentials grant)
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2 (JWT client authentication)
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2 (the resource parameter)
 */

export type ApiAccessToken = {
  readonly access_token: string;
  readonly token_type: string;
  /** Granted scope as the provider stated it (RFC 6749 §5.1), when it did. */
  readonly scope: string | undefined;
  readonly expires_in: number | undefined;
  /** The client assertion that authenticated this token request (compact JWT). */
  readonly clientAssertion: string | undefined;
  /** The back-channel requests the token request made. */
  readonly trace: BackChannelTrace;
  /** The key the token is bound to, when DPoP is on (RFC 9449): the API call must prove it. */
  readonly dpopKey?: DpopKey | undefined;
};

export type ClientCredentialsRequest = {
  /** The API's resource indicator, sent as `resource` (RFC 8707). */
  readonly resource: string;
  /** Space-separated scopes, sent as `scope`. */
  readonly scope: string;
};

/**
 * Maps a failed client-credentials request onto a stable {@link AuthError}.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2 (token error response)
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2 (invalid_target)
 */
export function classifyClientCredentialsError(err: unknown): AuthError {
  const detail = describeError(err);
  if (err instanceof AuthError) return err;
  // The client authentication refused to sign what the provider would reject (its algorithm).
  const misconfigured = findConfigError(err);
  if (misconfigured)
    return new AuthError('app_misconfigured', { detail: misconfigured.message, cause: err });
  // A 400/401/403 without an OAuth JSON error (an empty 403 from a gateway, an HTML page), or a
  // 401 challenge: the provider refused the client, not a malformed token response.
  const refusal = classifyTokenEndpointRefusal(err);
  if (refusal) return refusal;
  if (err instanceof client.ResponseBodyError) {
    const byError: Record<string, AuthErrorCode> = {
      invalid_client: 'client_authentication_failed',
      unauthorized_client: 'grant_not_allowed',
      unsupported_grant_type: 'grant_not_allowed',
      invalid_scope: 'api_target_rejected',
      invalid_target: 'api_target_rejected',
    };
    // A 401 is client authentication whatever the code (RFC 6749 §5.2); Keycloak says unauthorized_client.
    const code: AuthErrorCode =
      err.status === 401
        ? 'client_authentication_failed'
        : Object.hasOwn(byError, err.error)
          ? (byError[err.error] as AuthErrorCode)
          : 'token_request_failed';
    return new AuthError(code, {
      error: err.error,
      error_description: err.error_description,
      detail,
      cause: err,
    });
  }
  if (isNetworkError(err)) return new AuthError('provider_unreachable', { detail, cause: err });
  return new AuthError('invalid_token_response', { detail, cause: err });
}

/**
 * Sends one client-credentials token request, authenticated by a freshly signed client assertion.
 *
 * @throws {AuthError} `client_authentication_failed` (invalid_client), `grant_not_allowed`,
 *   `api_target_rejected`, `token_request_failed`, `provider_unreachable`, `invalid_token_response`.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4.2
 */
export async function requestClientCredentialsToken(
  config: client.Configuration,
  request: ClientCredentialsRequest,
  dpopKey?: DpopKey,
): Promise<ApiAccessToken> {
  const trace = createTrace();
  let response: Awaited<ReturnType<typeof client.clientCredentialsGrant>>;
  try {
    response = await withTrace(trace, () =>
      client.clientCredentialsGrant(
        config,
        { scope: request.scope, resource: request.resource },
        dpopKey ? { DPoP: getDpopHandle(config, dpopKey, 'provider') } : undefined,
      ),
    );
  } catch (err) {
    throw classifyClientCredentialsError(err);
  }
  if (dpopKey) {
    // MUST: asked for with a proof, the token is DPoP-bound to this key (RFC 9449 §5, §6.1).
    checkDpopBinding(response, dpopKey);
  } else if (response.token_type !== 'bearer') {
    // MUST: this client sends the token as a bearer token (RFC 6750); a token of another type
    // (DPoP-bound, say) would be refused by the API or, worse, misused.
    throw new AuthError('invalid_token_response', {
      detail: `token_type "${String(response.token_type).slice(0, 20)}" instead of bearer`,
    });
  }
  return {
    access_token: response.access_token,
    token_type: response.token_type,
    scope: response.scope,
    expires_in: response.expires_in,
    clientAssertion: trace.clientAssertions.at(-1),
    trace,
    dpopKey,
  };
}

/**
 * The key machine-to-machine tokens are bound to when DPoP is on: one per process, made on first
 * use and imported non-extractable. It need not outlive the process: neither does the token
 * cache, and a new process simply gets new tokens for its new key.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-2
 */
export function getMachineDpopKey(): Promise<DpopKey> {
  const { alg } = getConfig().protocol.dpop;
  return processSingleton(`machine-dpop-key:${alg}`, () =>
    generateDpopKey(alg).then(({ key }) => key),
  );
}

/**
 * A token cache for the API, requesting through `config`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export function createApiTokenCache(
  config: client.Configuration,
  request: ClientCredentialsRequest,
  dpopKey?: () => Promise<DpopKey>,
): TokenCache<ApiAccessToken> {
  return createTokenCache(async () => {
    const token = await requestClientCredentialsToken(config, request, await dpopKey?.());
    return { token, expiresIn: token.expires_in };
  });
}

type CacheSlot = { readonly key: string; readonly cache: Promise<TokenCache<ApiAccessToken>> };

// One cache per process (Next bundles the server action and the route handlers separately).
const slot = processSlot<CacheSlot>('api-token-cache');

function cacheKey(): string {
  const { issuer, clientId, api, protocol } = getConfig();
  return JSON.stringify([issuer, clientId, api.resource, api.scope, protocol.dpop.enabled]);
}

function getApiTokenCache(): Promise<TokenCache<ApiAccessToken>> {
  const key = cacheKey();
  const current = slot.get();
  if (current?.key === key) return current.cache;
  const { api, protocol } = getConfig();
  const cache = getProvider().then(({ config }) =>
    createApiTokenCache(
      config,
      { resource: api.resource, scope: api.scope },
      protocol.dpop.enabled ? getMachineDpopKey : undefined,
    ),
  );
  slot.set({ key, cache });
  // A failed discovery is not kept: the next call discovers again.
  cache.catch(() => {
    if (slot.get()?.cache === cache) slot.set(undefined);
  });
  return cache;
}

/**
 * An access token for this app's API (API_RESOURCE, API_SCOPE): the cached one, or a new one from
 * the client-credentials grant. However many callers ask at once, one token request is sent.
 *
 * @throws {AuthError} when the token request fails (nothing is cached then).
 * @throws {ConfigError} when the provider contradicts the configuration.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export async function getApiAccessToken(): Promise<TokenLease<ApiAccessToken>> {
  return (await getApiTokenCache()).get();
}

/**
 * Drops `token` from the cache, if it is still there (the API refused it as invalid_token).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export async function forgetApiAccessToken(token: ApiAccessToken): Promise<void> {
  (await getApiTokenCache()).forget(token);
}
