import { getConfig } from './config';
import { AUTH_ERROR_CATALOG, AuthError, ConfigError, type AuthErrorCode } from './errors';
import { viewJwt, type JwtView } from './jwt-view';
import { describeError, log } from './log';
import { callApi, type ApiAnswer } from './machine-call';
import { getAccessToken, type UserAccessToken } from './session';
import type { TokenSource } from './user-tokens';

/**
 * The protected API called *as the signed-in user*: the user's access token from the server-side
 * session ({@link getAccessToken}, refreshed when needed), sent to `GET /api/messages` as a
 * bearer token, or with a DPoP proof of the session's key when the token is DPoP-bound. Used by
 * `GET /api/me/messages` and the button on `/profile`.
 *
 * What is displayed is decoded, never the compact token: the token stays on the server (the
 * backend-for-frontend keeps tokens away from page scripts).
 */

export type UserTokenView = {
  readonly source: TokenSource;
  readonly expiresAt: number | undefined;
  readonly scope: string | undefined;
  /** The access token, decoded; undefined when it is not a JWT. */
  readonly accessToken: JwtView | undefined;
  /** When this call refreshed: the client assertion that authenticated the refresh grant. */
  readonly refreshAssertion: JwtView | undefined;
  /** `bearer`, or `dpop` (RFC 9449). */
  readonly tokenType: string;
  /** When this call refreshed with DPoP: the proofs sent with the refresh grant, decoded. */
  readonly refreshProofs: readonly JwtView[];
};

export type UserApiCallOutcome =
  | {
      readonly ok: true;
      readonly request: { readonly method: 'GET'; readonly url: string };
      readonly token: UserTokenView;
      readonly api: ApiAnswer;
      readonly retriedWithNewToken: boolean;
    }
  | {
      readonly ok: false;
      /** The HTTP status a route answers with: 401, 409, 502 or 503. */
      readonly status: 401 | 409 | 502 | 503;
      readonly code: AuthErrorCode;
      readonly title: string;
      readonly hint: string;
      readonly error?: string | undefined;
      readonly error_description?: string | undefined;
    };

const STATUS_OF: Partial<Record<AuthErrorCode, 401 | 409 | 503>> = {
  not_signed_in: 401,
  session_expired: 401,
  refresh_unavailable: 409,
  provider_unreachable: 503,
  session_store_unavailable: 503,
  discovery_failed: 503,
};

function failure(err: unknown): UserApiCallOutcome {
  const code: AuthErrorCode =
    err instanceof AuthError
      ? err.code
      : err instanceof ConfigError
        ? 'app_misconfigured'
        : 'token_request_failed';
  const entry = AUTH_ERROR_CATALOG[code];
  return {
    ok: false,
    status: STATUS_OF[code] ?? 502,
    code,
    title: entry.title,
    hint: entry.hint,
    error: err instanceof AuthError ? err.error : undefined,
    error_description: err instanceof AuthError ? err.error_description : undefined,
  };
}

function viewToken(token: UserAccessToken): UserTokenView {
  return {
    source: token.source,
    expiresAt: token.expiresAt,
    scope: token.scope,
    accessToken: viewJwt(token.token),
    refreshAssertion: viewJwt(token.refreshAssertion),
    tokenType: token.tokenType,
    refreshProofs: (token.refreshProofs ?? []).flatMap((proof) => viewJwt(proof) ?? []),
  };
}

/**
 * Calls `GET /api/messages` with the signed-in user's access token. A stored token the API
 * refuses as `invalid_token` (revoked, keys rotated) is replaced once by a forced refresh.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export async function callMessagesApiAsUser(): Promise<UserApiCallOutcome> {
  const { api, httpTimeoutMs } = getConfig();
  let retriedWithNewToken = false;
  for (;;) {
    let token: UserAccessToken;
    try {
      token = await getAccessToken({ forceRefresh: retriedWithNewToken });
    } catch (err) {
      if (!(err instanceof AuthError) || err.code !== 'not_signed_in')
        log.warn('user access token unavailable', {
          reason: err instanceof ConfigError ? err.message : describeError(err),
        });
      return failure(err);
    }
    let answer: ApiAnswer;
    try {
      answer = await callApi(
        api.messagesUrl,
        { access_token: token.token, dpopKey: token.dpopKey },
        httpTimeoutMs,
      );
    } catch (err) {
      log.warn('api call failed', { reason: describeError(err) });
      return failure(new AuthError('provider_unreachable', { detail: describeError(err) }));
    }
    if (!retriedWithNewToken && token.source === 'store' && answer.tokenRefused) {
      retriedWithNewToken = true;
      continue;
    }
    return {
      ok: true,
      request: { method: 'GET', url: api.messagesUrl },
      token: viewToken(token),
      api: answer,
      retriedWithNewToken,
    };
  }
}
