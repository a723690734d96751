import type { JWK } from 'jose';
import * as client from 'openid-client';

import { createTrace, withTrace } from './back-channel';
import type { AppConfig } from './config';
import { findConfigError, isNetworkError, type ProviderContext } from './discovery';
import { generateDpopKey, getDpopHandle } from './dpop-client';
import { AuthError, type AuthErrorCode } from './errors';
import { viewJwt, type JwtView } from './jwt-view';
import { describeError } from './log';

/**
 * How the authorization request reaches the provider: in the browser's URL (RFC 6749 §4.1.1), or
 * pushed over the back channel first (PAR, RFC 9126) so that the browser carries only `client_id`
 * and a `request_uri`. With DPoP on, a new key pair for the session is made here and the code is
 * bound to it: by the DPoP proof on the PAR request, or by `dpop_jkt` in the URL (RFC 9449 §10).
 *
 * openid-client does the protocol (`buildAuthorizationUrlWithPAR`): the PAR request is
 * authenticated like every token request, with a freshly signed client assertion whose `aud` is
 * the issuer (RFC 10070 applies it to the PAR endpoint too; ./client-assertion.ts).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2 (pushed authorization request)
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-4 (authorization request with request_uri)
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-10 (authorization code binding to a DPoP key)
 */

/** What was pushed and what came back, for /profile (no secret: the assertion is decoded). */
export type ParView = {
  readonly endpoint: string;
  /** The parameters pushed, as sent (the client assertion is shown decoded, apart). */
  readonly parameters: Readonly<Record<string, string>>;
  /**
   * Each request the push took, in order: one, or two when the provider demanded a DPoP nonce
   * (RFC 9449 §8), each with its own client assertion and proof.
   */
  readonly attempts: readonly ParAttempt[];
  /** The reference the provider returned. */
  readonly request_uri: string;
  /** Where the browser was sent: the authorization endpoint with client_id and request_uri only. */
  readonly authorization_url: string;
};

/** One request to the PAR endpoint. */
export type ParAttempt = {
  readonly status: number | undefined;
  readonly client_assertion: JwtView | undefined;
  readonly dpop_proof: JwtView | undefined;
};

export type AuthorizationRequest = {
  readonly url: URL;
  /** The session's DPoP private key (JWK), to keep sealed with the session state. */
  readonly dpopKey: JWK | undefined;
  readonly par: ParView | undefined;
};

/**
 * An attempt as the sign-in transaction cookie carries it (it must stay under 4 KB): the proof's
 * `jwk` is the session key, shown apart, so only its type stays; an attempt that was answered with
 * a nonce challenge keeps only what tells it from the retry (`jti`, `nonce`).
 */
function compactAttempt(attempt: ParAttempt, superseded: boolean): ParAttempt {
  const proof = attempt.dpop_proof;
  const jwk = proof?.header.jwk as { kty?: unknown; crv?: unknown } | undefined;
  const compactProof = proof && {
    header: { ...proof.header, jwk: { kty: jwk?.kty, crv: jwk?.crv } },
    payload: proof.payload,
  };
  if (!superseded) return { ...attempt, dpop_proof: compactProof };
  const pick = (view: JwtView | undefined, names: readonly string[]) =>
    view && {
      header: {},
      payload: Object.fromEntries(
        names.flatMap((n) => (n in view.payload ? [[n, view.payload[n]]] : [])),
      ),
    };
  return {
    status: attempt.status,
    client_assertion: pick(attempt.client_assertion, ['jti', 'aud']),
    dpop_proof: pick(compactProof, ['jti', 'htu', 'nonce']),
  };
}

/**
 * Whether this sign-in pushes its request: `OIDC_PAR=true` (or the FAPI 2.0 profile) always; by
 * default when the provider requires it (RFC 9126 §5, `require_pushed_authorization_requests`).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-5
 */
export function usesPar(
  mode: AppConfig['protocol']['par'],
  metadata: Pick<client.ServerMetadata, 'require_pushed_authorization_requests'>,
): boolean {
  return (
    mode === 'on' || (mode === 'auto' && metadata.require_pushed_authorization_requests === true)
  );
}

/**
 * Maps a failed PAR request onto a stable {@link AuthError}, as token errors are: the client
 * assertion refused (`invalid_client`, or a 401 challenge), the provider unreachable, or any other
 * answer of the PAR endpoint.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.3 (error response)
 */
export function classifyParError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  const detail = `PAR: ${describeError(err)}`;
  const misconfigured = findConfigError(err);
  if (misconfigured)
    return new AuthError('app_misconfigured', { detail: misconfigured.message, cause: err });
  if (err instanceof client.ResponseBodyError) {
    const code: AuthErrorCode =
      err.error === 'invalid_client' ? 'client_authentication_failed' : 'par_request_failed';
    return new AuthError(code, {
      error: err.error,
      error_description: err.error_description,
      detail,
      cause: err,
    });
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    const error = err.cause[0]?.parameters.error;
    return new AuthError(
      err.status === 401 ? 'client_authentication_failed' : 'par_request_failed',
      {
        error: error ?? (err.status === 401 ? 'invalid_client' : undefined),
        detail,
        cause: err,
      },
    );
  }
  if (isNetworkError(err)) return new AuthError('provider_unreachable', { detail, cause: err });
  // Anything else is an answer that is not a PAR response (no request_uri, another status, HTML).
  return new AuthError('par_request_failed', { detail, cause: err });
}

/**
 * Builds the authorization request: the URL for the browser, pushed first when PAR is on, and the
 * session's DPoP key when DPoP is on.
 *
 * @throws {AuthError} when the PAR request fails (see {@link classifyParError}).
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.1
 */
export async function buildAuthorizationRequest(
  provider: ProviderContext,
  settings: Pick<AppConfig, 'protocol'>,
  parameters: Readonly<Record<string, string>>,
): Promise<AuthorizationRequest> {
  const { config, metadata } = provider;
  const { protocol } = settings;
  const dpop = protocol.dpop.enabled ? await generateDpopKey(protocol.dpop.alg) : undefined;
  if (!usesPar(protocol.par, metadata)) {
    // RFC 9449 §10: without PAR, the code is bound to the key by its thumbprint in the request.
    const url = client.buildAuthorizationUrl(config, {
      ...parameters,
      ...(dpop ? { dpop_jkt: dpop.key.jkt } : {}),
    });
    return { url, dpopKey: dpop?.jwk, par: undefined };
  }
  const trace = createTrace();
  let url: URL;
  try {
    url = await withTrace(trace, () =>
      client.buildAuthorizationUrlWithPAR(
        config,
        parameters,
        // RFC 9449 §10.1: the proof on the PAR request binds the code to the session's key.
        dpop ? { DPoP: getDpopHandle(config, dpop.key, 'provider') } : undefined,
      ),
    );
  } catch (err) {
    throw classifyParError(err);
  }
  // MUST: RFC 9126 §4: the browser's URL carries the reference and the client_id, nothing else: the
  // request's content stays on the back channel, out of browser history, logs and referrers.
  // The endpoint's own query (RFC 6749 §3.1: retained, e.g. a tenant or realm) is not the
  // request's, unless it names one of the request's parameters.
  const own = new URL(String(metadata.authorization_endpoint)).searchParams;
  const carried = [...url.searchParams.keys()]
    .filter(
      (name) =>
        !own.has(name) || name in parameters || name === 'client_id' || name === 'request_uri',
    )
    .sort()
    .join(' ');
  if (carried !== 'client_id request_uri') {
    throw new AuthError('par_request_failed', {
      detail: `the authorization URL would carry more than client_id and request_uri: ${carried}`,
    });
  }
  return {
    url,
    dpopKey: dpop?.jwk,
    par: {
      endpoint: String(metadata.pushed_authorization_request_endpoint),
      parameters: { ...parameters, client_id: config.clientMetadata().client_id },
      attempts: trace.requests.map((request, i, all) =>
        compactAttempt(
          {
            status: request.status,
            client_assertion: viewJwt(trace.clientAssertions[i]),
            dpop_proof: viewJwt(trace.dpopProofs[i]),
          },
          i < all.length - 1,
        ),
      ),
      request_uri: url.searchParams.get('request_uri') ?? '',
      authorization_url: url.href,
    },
  };
}
