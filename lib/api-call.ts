import * as client from 'openid-client';

import { apiFetch, createTrace, withDeadline, withTrace } from './back-channel';
import { getConfig } from './config';
import { getProvider } from './discovery';
import { getDpopHandle, type DpopKey } from './dpop-client';
import { viewJwt, type JwtView } from './jwt-view';
import { processSlot } from './process-slot';

/**
 * Calling the protected API with an access token, as a bearer token (RFC 6750 §2.1) or, for a
 * DPoP-bound token, with `Authorization: DPoP` and a proof of the key (RFC 9449 §7.1). The DPoP
 * call goes through openid-client (`fetchProtectedResource`), which signs the proof (`htm`, `htu`,
 * `ath`) and answers the API's `use_dpop_nonce` with exactly one retry (RFC 9449 §9).
 *
 * Redirects are never followed: a token goes to the API's own URL and nowhere else.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */

export type ApiAnswer = {
  readonly url: string;
  readonly status: number;
  readonly wwwAuthenticate: string | null;
  /**
   * The API refused the token itself: a 401 with a `Bearer` or `DPoP` challenge whose `error` is
   * `invalid_token` (RFC 6750 §3.1, RFC 9449 §7.1), as openid-client parses the challenges (either
   * form of a parameter value, any order of challenges; RFC 9110 §11.2).
   */
  readonly tokenRefused: boolean;
  readonly body: unknown;
  readonly ms: number;
  /** For a DPoP call: every proof sent (two when the API demanded a nonce), decoded. */
  readonly dpop?: { readonly proofs: readonly JwtView[]; readonly requests: number } | undefined;
};

const MAX_BODY_CHARS = 4000;

/** Whether the challenges of a 401 say the token itself was refused (see {@link ApiAnswer}). */
function isTokenRefusal(
  status: number,
  challenges: readonly client.WWWAuthenticateChallenge[],
): boolean {
  return (
    status === 401 &&
    challenges.some(
      (c) =>
        (c.scheme === 'bearer' || c.scheme === 'dpop') && c.parameters.error === 'invalid_token',
    )
  );
}

/**
 * `GET url` through openid-client's `fetchProtectedResource` (the token as `Authorization: Bearer`,
 * or `DPoP` with a proof when `options` has a DPoP handle). A refusal that carries challenges (a
 * 401 or 403 with `WWW-Authenticate`) is an answer, not an exception: openid-client hands its
 * challenges over parsed, and {@link ApiAnswer.tokenRefused} is read from them.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export async function requestApi(
  config: client.Configuration,
  url: string,
  accessToken: string,
  options?: client.DPoPOptions,
): Promise<Omit<ApiAnswer, 'dpop'>> {
  const started = performance.now();
  let response: Response;
  let challenges: readonly client.WWWAuthenticateChallenge[] = [];
  try {
    response = await client.fetchProtectedResource(
      config,
      accessToken,
      new URL(url),
      'GET',
      undefined,
      new Headers({ accept: 'application/json' }),
      options,
    );
  } catch (err) {
    if (!(err instanceof client.WWWAuthenticateChallengeError)) throw err;
    response = err.response;
    challenges = err.cause;
  }
  const text = (await response.text()).slice(0, MAX_BODY_CHARS);
  let body: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('json')) {
    try {
      body = JSON.parse(text);
    } catch {
      // shown as text
    }
  }
  return {
    url,
    status: response.status,
    wwwAuthenticate: response.headers.get('www-authenticate'),
    tokenRefused: isTokenRefusal(response.status, challenges),
    body,
    ms: Math.round(performance.now() - started),
  };
}

/**
 * `GET url` with the access token as a bearer token, through openid-client. A refusal with a
 * challenge (401/403) is an answer, not an exception.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export async function callApiWithBearer(
  url: string,
  accessToken: string,
  timeoutMs: number,
): Promise<ApiAnswer> {
  return requestApi(await getApiConfiguration(timeoutMs), url, accessToken);
}

type ApiConfiguration = { readonly key: string; readonly config: client.Configuration };
const slot = processSlot<ApiConfiguration>('api-call-configuration');

/**
 * openid-client's Configuration for calls to this app's API: the provider's metadata (openid-client
 * wants it), this client's id, a traced fetch that does not take the API's clock for the
 * provider's, and the timeout. No client authentication: resource requests carry none.
 */
async function getApiConfiguration(timeoutMs: number): Promise<client.Configuration> {
  const { metadata, config: providerConfig } = await getProvider();
  const clientId = providerConfig.clientMetadata().client_id;
  const key = JSON.stringify([metadata.issuer, clientId, timeoutMs]);
  const existing = slot.get();
  if (existing?.key === key) return existing.config;
  const config = new client.Configuration(metadata, clientId);
  // The deadline is the fetch's own; 0: no AbortSignal.timeout from openid-client (see withDeadline).
  config[client.customFetch] = withDeadline(apiFetch, timeoutMs);
  config.timeout = 0;
  // Plain http only for a loopback APP_URL (lib/config.ts refuses it elsewhere).
  if (getConfig().appUrl.startsWith('http:')) client.allowInsecureRequests(config);
  slot.set({ key, config });
  return config;
}

/**
 * `GET url` with a DPoP-bound access token and a proof of `key`, through openid-client. A refusal
 * with a challenge (401/403) is an answer, not an exception.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-9 (use_dpop_nonce, one retry)
 */
export async function callApiWithDpop(
  url: string,
  accessToken: string,
  key: DpopKey,
  timeoutMs: number,
): Promise<ApiAnswer> {
  const config = await getApiConfiguration(timeoutMs);
  const trace = createTrace();
  const answer = await withTrace(trace, () =>
    requestApi(config, url, accessToken, { DPoP: getDpopHandle(config, key, 'api') }),
  );
  return {
    ...answer,
    dpop: {
      proofs: trace.dpopProofs.flatMap((proof) => viewJwt(proof) ?? []),
      requests: trace.requests.length,
    },
  };
}
