import { decodeJwt, type JWTPayload } from 'jose';
import * as client from 'openid-client';

import { createTrace, withTrace } from './back-channel';
import { getConfig, openWithRotation } from './config';
import { findConfigError, getProvider, isNetworkError, type ProviderContext } from './discovery';
import { checkDpopBinding, getDpopHandle, loadDpopKey, unsealDpopJwk } from './dpop-client';
import { AuthError, type AuthErrorCode } from './errors';
import { verifyIdTokenSignature } from './id-token';
import { describeError, log } from './log';
import type { SessionRecord } from './session-record';
import { classifyTokenEndpointRefusal } from './token-endpoint-answer';
import type { RefreshedTokens } from './user-tokens';

/**
 * The refresh grant for the signed-in user's API token, through openid-client with this app's
 * client authentication: every refresh sends a newly signed client assertion (new `jti`), like
 * the code exchange and every other token request (./client-assertion.ts).
 *
 * The request carries `resource=API_RESOURCE` (RFC 8707 §2.2) and `scope=API_SCOPE`, so the
 * provider answers with an access token for the API alone (an RFC 9068 JWT at the bundled
 * provider), down-scoped from the sign-in's grant. The sign-in's own access token, obtained
 * without `resource`, stays what UserInfo accepts; one token with both audiences would be
 * refused by the API (and by oidc-provider, which issues one audience per access token).
 *
 * With DPoP (a session that has a DPoP key), the refresh carries a new proof of the session's key
 * (RFC 9449 §5) along with the new assertion, and the new access token must come back DPoP-bound
 * to that key. A confidential client's refresh token is bound to its client authentication, not
 * to the DPoP key (RFC 9449 §5: it is sender-constrained by that authentication already); the
 * provider in FAPI 2.0 mode still refuses a refresh without a proof.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refreshing an access token)
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.2 (resource in the token request)
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2 (client authentication with a JWT)
 */

/**
 * Maps a failed refresh onto an {@link AuthError}: `invalid_grant` ends the session
 * (`session_expired`); a provider that cannot be reached, or answers 5xx or
 * `temporarily_unavailable`, is `provider_unreachable` (503, the session stays).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function classifyRefreshError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  const detail = describeError(err);
  const misconfigured = findConfigError(err);
  if (misconfigured)
    return new AuthError('app_misconfigured', { detail: misconfigured.message, cause: err });
  if (err instanceof client.ResponseBodyError) {
    const code: AuthErrorCode =
      err.error === 'invalid_grant'
        ? 'session_expired'
        : err.error === 'invalid_client' || err.status === 401
          ? 'client_authentication_failed'
          : err.status >= 500 ||
              err.error === 'temporarily_unavailable' ||
              err.error === 'server_error'
            ? 'provider_unreachable'
            : err.error === 'invalid_target' || err.error === 'invalid_scope'
              ? 'api_target_rejected'
              : 'token_request_failed';
    return new AuthError(code, {
      error: err.error,
      error_description: err.error_description,
      detail,
      cause: err,
    });
  }
  // A 400/401/403 without an OAuth JSON error (an empty 403 from a gateway, an HTML page).
  const refusal = classifyTokenEndpointRefusal(err);
  if (refusal) return refusal;
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return new AuthError('client_authentication_failed', {
      error: err.cause[0]?.parameters.error ?? 'invalid_client',
      detail,
      cause: err,
    });
  }
  if (isNetworkError(err)) return new AuthError('provider_unreachable', { detail, cause: err });
  // A 5xx without an OAuth body surfaces as a response that is not a token response.
  const status = (err as { cause?: { status?: unknown } }).cause?.status;
  if (typeof status === 'number' && status >= 500)
    return new AuthError('provider_unreachable', { detail, cause: err });
  return new AuthError('invalid_token_response', { detail, cause: err });
}

function audiences(aud: unknown): string {
  const list = Array.isArray(aud) ? aud : aud === undefined ? [] : [aud];
  return JSON.stringify(list.map(String).sort());
}

/**
 * Compares the ID token of a refresh response with the one of the sign-in: MUST (OIDC Core
 * §12.2) the same `iss`, `sub` and `aud`; the same `azp`, or none when the sign-in's had none;
 * no `nonce`, or the sign-in's (the same rules as at the original authentication);
 * and, when both carry `auth_time`, not an earlier one (it is the time of the original
 * authentication, not of the refresh). A later one is taken: Keycloak moves its session's
 * `auth_time` when the user authenticates again in it (prompt=login, max_age, another client's
 * step-up), and the refresh token belongs to that session; refusing it would refuse every refresh
 * of the session from then on. openid-client has already checked `iss` against the issuer and
 * `aud` against this client, as for any ID token, and the caller its signature.
 *
 * @returns undefined when they agree, else the claim that differs.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#RefreshTokenResponse
 */
export function compareRefreshedIdToken(
  original: JWTPayload,
  refreshed: JWTPayload,
): string | undefined {
  if (refreshed.iss !== original.iss) return 'iss';
  if (refreshed.sub !== original.sub) return 'sub';
  if (audiences(refreshed.aud) !== audiences(original.aud)) return 'aud';
  if (refreshed.azp !== original.azp) return 'azp';
  // A refresh is no authentication request: no nonce of its own. The original's, repeated
  // (oidc-provider does), binds it to the same authentication; any other value does not.
  if (refreshed.nonce !== undefined && refreshed.nonce !== original.nonce) return 'nonce';
  if (
    typeof original.auth_time === 'number' &&
    refreshed.auth_time !== undefined &&
    !(typeof refreshed.auth_time === 'number' && refreshed.auth_time >= original.auth_time)
  )
    return 'auth_time';
  return undefined;
}

/** The sign-in's ID token claims, when the session kept the token (it was verified then). */
function readOriginalClaims(idToken: string | undefined): JWTPayload | undefined {
  if (idToken === undefined) return undefined;
  try {
    return decodeJwt(idToken);
  } catch {
    return undefined;
  }
}

/**
 * Sends one refresh grant for the API token of the user `sub`.
 *
 * @throws {AuthError} `session_expired` for invalid_grant, `provider_unreachable`, or another code.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function refreshUserApiToken(
  refreshToken: string,
  sub: string,
  session: Pick<SessionRecord, 'dpop_key'> & {
    readonly user?: { readonly id_token?: string };
  } = {},
): Promise<RefreshedTokens> {
  const { api, sessionPasswords, idTokenSignedResponseAlg } = getConfig();
  const trace = createTrace();
  let response: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
  const started = performance.now();
  let dpopKey: Awaited<ReturnType<typeof loadDpopKey>> | undefined;
  if (session.dpop_key !== undefined) {
    const sealed = session.dpop_key;
    const jwk = await openWithRotation(sealed, sessionPasswords, (password) =>
      unsealDpopJwk(sealed, password),
    );
    // A key that cannot be opened (SESSION_SECRET changed without SESSION_SECRET_PREVIOUS) makes
    // the session's tokens useless: end it like a refused refresh.
    if (!jwk)
      throw new AuthError('session_expired', { detail: 'the session DPoP key cannot be opened' });
    dpopKey = await loadDpopKey(jwk);
  }
  let provider: ProviderContext;
  try {
    provider = await getProvider();
    const { config } = provider;
    response = await withTrace(trace, () =>
      client.refreshTokenGrant(
        config,
        refreshToken,
        { resource: api.resource, scope: api.scope },
        dpopKey ? { DPoP: getDpopHandle(config, dpopKey, 'provider') } : undefined,
      ),
    );
  } catch (err) {
    const classified = classifyRefreshError(err);
    log.warn('refresh failed', { sub, code: classified.code, error: classified.error });
    throw classified;
  }
  // MUST: a response refused below is discarded whole. When the provider rotated the refresh
  // token, the new one is held by nobody (the session keeps the one this request spent): it is
  // revoked (RFC 7009 §2), as a rotated token the store failed to keep is (./user-tokens.ts).
  try {
    if (dpopKey) {
      // MUST: refreshed with a proof, the new access token is bound to the session's key
      // (RFC 9449 §5, §6.1): a Bearer token, or one bound to another key, is refused.
      checkDpopBinding(response, dpopKey);
    } else if (response.token_type.toLowerCase() !== 'bearer') {
      // MUST: without a DPoP key this app presents the token as a bearer token (RFC 6750).
      throw new AuthError('invalid_token_response', {
        detail: `token_type "${response.token_type.slice(0, 20)}" instead of bearer`,
      });
    }
    // MUST: an ID token in a refresh response is verified as the sign-in's was (OIDC Core §12.2:
    // "the same rules apply"): openid-client checks its claims, not its signature, for ID tokens
    // from the token endpoint; unverified, the comparisons below would compare forged claims.
    if (response.id_token !== undefined)
      await verifyIdTokenSignature(
        provider.jwks,
        response.id_token,
        idTokenSignedResponseAlg,
        'refreshed ID token',
      );
    // MUST: an ID token in a refresh response is about the same user and the same authentication
    // as the sign-in's (OIDC Core §12.2).
    const claims = response.claims();
    if (claims && claims.sub !== sub) {
      throw new AuthError('id_token_invalid', {
        detail: 'the refreshed ID token names another sub',
      });
    }
    const original = readOriginalClaims(session.user?.id_token);
    const differs = claims && original ? compareRefreshedIdToken(original, claims) : undefined;
    if (differs !== undefined) {
      throw new AuthError('id_token_invalid', {
        detail: `the refreshed ID token's ${differs} differs from the sign-in's (OIDC Core §12.2)`,
      });
    }
  } catch (err) {
    const rotated = response.refresh_token;
    if (rotated !== undefined && rotated !== refreshToken) await revokeRefreshToken(rotated, sub);
    throw err;
  }
  log.info('refreshed', {
    sub,
    ms: Math.round(performance.now() - started),
    rotated: response.refresh_token !== undefined && response.refresh_token !== refreshToken,
    expires_in: response.expires_in,
  });
  return {
    access_token: response.access_token,
    token_type: response.token_type,
    expires_in: response.expires_in,
    scope: response.scope,
    refresh_token: response.refresh_token,
    client_assertion: trace.clientAssertions.at(-1),
    dpop_proofs: trace.dpopProofs.length > 0 ? [...trace.dpopProofs] : undefined,
  };
}

/**
 * Revokes a refresh token at the provider's revocation endpoint, authenticated by a fresh client
 * assertion; a provider without one is skipped. Failures are logged, never thrown: the local
 * session ends whatever the provider says.
 *
 * @returns whether the provider accepted the revocation request.
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 */
export async function revokeRefreshToken(refreshToken: string, sub: string): Promise<boolean> {
  try {
    const { config, metadata } = await getProvider();
    if (!metadata.revocation_endpoint) return false;
    await client.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
    log.info('refresh token revoked', { sub });
    return true;
  } catch (err) {
    log.warn('refresh token revocation failed', { sub, reason: describeError(err) });
    return false;
  }
}
