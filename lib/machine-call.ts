import { callApiWithBearer, callApiWithDpop, type ApiAnswer } from './api-call';
import { forgetApiAccessToken, getApiAccessToken, type ApiAccessToken } from './client-credentials';
import { getConfig } from './config';
import { viewJwt, type JwtView } from './jwt-view';
import { AUTH_ERROR_CATALOG, AuthError, ConfigError, type AuthErrorCode } from './errors';
import { describeError, log } from './log';
import type { TokenLease, TokenSource } from './token-cache';

/**
 * Machine to machine, end to end, as the `/machine` page and `npm run client-credentials` show it:
 * get an access token with the client-credentials grant (cached), call the protected API with
 * it, and describe both for display.
 *
 * What is displayed is decoded, never the compact tokens: the access token is a bearer credential
 * for the API, and the page shows it to any signed-in user. The signature part never leaves the
 * server.
 */

export type TokenView = {
  readonly source: TokenSource;
  /** Wall-clock ms when the token was requested. */
  readonly requestedAt: number;
  readonly expiresAt: number | undefined;
  readonly refreshAt: number;
  readonly scope: string | undefined;
  readonly expires_in: number | undefined;
  /** The client assertion that authenticated the token request that got this token. */
  readonly assertion: JwtView | undefined;
  /** The access token, decoded; undefined when it is not a JWT (an opaque token). */
  readonly accessToken: JwtView | undefined;
  /** `token_type` of the token response: `bearer`, or `dpop` (RFC 9449) when DPoP is on. */
  readonly token_type: string;
  /** The token request at the token endpoint: status and duration (for the flow inspector). */
  readonly tokenRequest?: { readonly status: number | undefined; readonly ms: number } | undefined;
};

export type { ApiAnswer } from './api-call';

export type MachineCallOutcome =
  | {
      readonly ok: true;
      readonly token: TokenView;
      readonly api: ApiAnswer;
      readonly retriedWithNewToken: boolean;
    }
  /** No token: the provider refused or could not be reached. */
  | {
      readonly ok: false;
      readonly stage: 'token';
      readonly code: AuthErrorCode;
      readonly title: string;
      readonly hint: string;
      readonly error?: string | undefined;
      readonly error_description?: string | undefined;
    }
  /** A token, but the API could not be reached. */
  | {
      readonly ok: false;
      readonly stage: 'api';
      readonly token: TokenView;
      readonly url: string;
      readonly message: string;
    };

/**
 * The display form of a token lease.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2 (the access token's header and claims)
 */
export function viewLease(lease: TokenLease<ApiAccessToken>): TokenView {
  return {
    source: lease.source,
    requestedAt: lease.requestedAt,
    expiresAt: lease.expiresAt,
    refreshAt: lease.refreshAt,
    scope: lease.token.scope,
    expires_in: lease.token.expires_in,
    assertion: viewJwt(lease.token.clientAssertion),
    accessToken: viewJwt(lease.token.access_token),
    token_type: lease.token.token_type,
    tokenRequest: lease.token.trace.requests
      .filter((r) => r.method === 'POST')
      .map((r) => ({ status: r.status, ms: r.ms }))
      .at(-1),
  };
}

/**
 * `GET url` with the access token: as a bearer token (RFC 6750 §2.1), or with a DPoP proof of its
 * key when it is DPoP-bound (RFC 9449 §7.1). Redirects are not followed.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export async function callApi(
  url: string,
  token: Pick<ApiAccessToken, 'access_token' | 'dpopKey'>,
  timeoutMs: number,
): Promise<ApiAnswer> {
  return token.dpopKey
    ? callApiWithDpop(url, token.access_token, token.dpopKey, timeoutMs)
    : callApiWithBearer(url, token.access_token, timeoutMs);
}

function tokenFailure(err: unknown): MachineCallOutcome {
  // A ConfigError's text names settings and URLs: it goes to the log, the page gets the catalog's words.
  const code: AuthErrorCode =
    err instanceof AuthError
      ? err.code
      : err instanceof ConfigError
        ? 'app_misconfigured'
        : 'token_request_failed';
  const entry = AUTH_ERROR_CATALOG[code];
  return {
    ok: false,
    stage: 'token',
    code,
    title: entry.title,
    hint: entry.hint,
    error: err instanceof AuthError ? err.error : undefined,
    error_description: err instanceof AuthError ? err.error_description : undefined,
  };
}

/**
 * Gets a token (from the cache when it has one) and calls this app's protected API with it.
 *
 * A cached token the API refuses as `invalid_token` is dropped and the call made once more with a
 * new one: what a client does when a token is revoked or the provider's keys changed before the
 * token's expiry. A fresh token is never retried (the same refusal would follow).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export async function callApiWithClientCredentials(): Promise<MachineCallOutcome> {
  const { api, httpTimeoutMs } = getConfig();
  let retriedWithNewToken = false;
  for (;;) {
    let lease: TokenLease<ApiAccessToken>;
    try {
      lease = await getApiAccessToken();
    } catch (err) {
      log.warn('client-credentials token request failed', {
        reason: err instanceof ConfigError ? err.message : describeError(err),
      });
      return tokenFailure(err);
    }
    const token = viewLease(lease);
    let answer: ApiAnswer;
    try {
      answer = await callApi(api.messagesUrl, lease.token, httpTimeoutMs);
    } catch (err) {
      return { ok: false, stage: 'api', token, url: api.messagesUrl, message: describeError(err) };
    }
    if (!retriedWithNewToken && lease.source !== 'token_endpoint' && answer.tokenRefused) {
      await forgetApiAccessToken(lease.token);
      retriedWithNewToken = true;
      continue;
    }
    return { ok: true, token, api: answer, retriedWithNewToken };
  }
}
