import * as client from 'openid-client';
import type { JWK } from 'jose';
import type { IDToken, UserInfoResponse } from 'openid-client';

import { buildAuthorizationRequest, type ParView } from './authorization-request';
import { createTrace, stripQuery, withTrace, type BackChannelTrace } from './back-channel';
import {
  prepareClientAuthentication,
  withPreparedClientAuthentication,
  type PreparedClientAuthentication,
} from './client-assertion';
import { getConfig, isLoopbackUrl } from './config';
import { findConfigError, getProvider, isNetworkError, type ProviderContext } from './discovery';
import { checkDpopBinding, getDpopHandle, loadDpopKey, type TokenBindingView } from './dpop-client';
import { AuthError, type AuthErrorCode } from './errors';
import { findAudienceProblem, verifyIdTokenSignature, verifyProviderJwt } from './id-token';
import { describeError, log } from './log';
import { classifyTokenEndpointRefusal } from './token-endpoint-answer';
import { revokeRefreshToken } from './token-refresh';
import type { Transaction } from './transaction';

/**
 * The browser sign-in, through openid-client: the authorization request, the code exchange with a
 * client assertion, ID token and UserInfo validation, and the logout URL. Used by the auth routes
 * only; the provider itself comes from lib/discovery.ts.
 */

/**
 * Starts the authorization-code flow: a fresh `state`, `nonce` and PKCE verifier, and the URL of
 * the provider's authorization endpoint with the S256 challenge, pushed first when PAR is on, with
 * the session's new DPoP key when DPoP is on (./authorization-request.ts).
 *
 * @throws {AuthError} when the PAR request fails.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2 (S256)
 * @see https://www.rfc-editor.org/rfc/rfc9126 (PAR)
 */
export async function startSignIn(
  returnTo: string,
): Promise<{ url: URL; transaction: Transaction }> {
  const settings = getConfig();
  const provider = await getProvider();
  const { transaction, parameters } = await createTransaction(returnTo);
  const { url, dpopKey, par } = await buildAuthorizationRequest(provider, settings, parameters);
  return { url, transaction: { ...transaction, dpop_key: dpopKey, par } };
}

/**
 * A new transaction (a fresh `state`, `nonce` and PKCE verifier, created now) and the
 * authorization request's parameters for it, before any DPoP key or PAR (see {@link startSignIn}).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1 (code_verifier)
 */
export async function createTransaction(
  returnTo: string,
): Promise<{ transaction: Transaction; parameters: Record<string, string> }> {
  const transaction: Transaction = {
    state: client.randomState(),
    nonce: client.randomNonce(),
    code_verifier: client.randomPKCECodeVerifier(),
    returnTo,
    created_at: Math.floor(Date.now() / 1000),
  };
  return { transaction, parameters: await buildAuthorizationParameters(transaction) };
}

/**
 * The authorization request's parameters for a transaction (client_id is added by openid-client;
 * with PAR they are pushed, ./authorization-request.ts). Also what the flow inspector shows as the
 * request that was sent.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 */
export async function buildAuthorizationParameters(
  transaction: Pick<Transaction, 'state' | 'nonce' | 'code_verifier'>,
): Promise<Record<string, string>> {
  const settings = getConfig();
  return {
    redirect_uri: settings.redirectUri,
    // The API's scope and resource indicator are asked for now, at sign-in (RFC 8707 §2.1), so
    // that the grant covers the API; its token comes later from a refresh with `resource`
    // (./token-refresh.ts). The code itself is redeemed without `resource`: its access token is
    // the one UserInfo accepts.
    scope: [...new Set([...settings.scopes.split(' '), settings.api.scope])].join(' '),
    resource: settings.api.resource,
    response_type: 'code',
    code_challenge: await client.calculatePKCECodeChallenge(transaction.code_verifier),
    code_challenge_method: 'S256',
    state: transaction.state,
    nonce: transaction.nonce,
  };
}

export type SignInResult = {
  readonly id_token: string;
  readonly claims: IDToken;
  readonly userinfo: UserInfoResponse | undefined;
  /** The refresh token, when the provider issued one: it gets the API token later. */
  readonly refresh_token: string | undefined;
  /**
   * The access token of the sign-in itself: the one UserInfo takes (audience: the provider), not
   * the API's, which a refresh with `resource` obtains later. Kept server-side with its expiry.
   */
  readonly access_token: SignInAccessToken;
  /** The compact client assertion that redeemed the code. */
  readonly clientAssertion: string | undefined;
  readonly trace: BackChannelTrace;
  /** The token response, for the flow inspector (which keeps it decoded, never whole). */
  readonly tokens?: client.TokenEndpointResponse | undefined;
  /** Step ends on the monotonic clock (`performance.now()`), for the flow inspector. */
  readonly timing?: SignInTiming | undefined;
  /** What was pushed to the PAR endpoint, when the request was pushed (RFC 9126). */
  readonly par?: ParView | undefined;
  /** DPoP (RFC 9449), when on: the session's key and how the tokens are bound to it. */
  readonly dpop?: SignInDpop | undefined;
};

/** The access token of a sign-in, as the token response gave it. */
export type SignInAccessToken = {
  readonly access_token: string;
  /** `token_type`, lower case (`bearer`, or `dpop` for a DPoP-bound token). */
  readonly token_type: string;
  /** When it expires, ms since the epoch, counted from when the request was sent (undefined when
   * the provider did not say). */
  readonly expires_at: number | undefined;
  readonly scope: string | undefined;
};

/** When each step of {@link completeSignIn} began or ended (`performance.now()`). */
export type SignInTiming = {
  readonly started: number;
  /** The token response received and its claims checked by openid-client. */
  readonly tokens: number;
  /** The ID token's signature verified. */
  readonly idToken: number;
  /** UserInfo read and checked (= idToken when there is no UserInfo endpoint). */
  readonly userinfo: number;
};

/** The DPoP side of a sign-in. */
export type SignInDpop = {
  /** The session's private key (JWK): to keep sealed with the session state, nowhere else. */
  readonly key: JWK;
  /** Its RFC 7638 thumbprint: the tokens' `cnf.jkt`. */
  readonly jkt: string;
  readonly binding: TokenBindingView;
  /** Every DPoP proof sent to the provider during the callback, in order (compact JWTs). */
  readonly proofs: readonly string[];
};

/** Maps a failure of the code exchange onto a stable {@link AuthError}. */
function classifyCodeExchangeError(err: unknown, tokenRequestSent: boolean): AuthError {
  const detail = describeError(err);
  const misconfigured = findConfigError(err);
  if (misconfigured)
    return new AuthError('app_misconfigured', { detail: misconfigured.message, cause: err });
  if (err instanceof client.AuthorizationResponseError) {
    return new AuthError('authorization_error', {
      error: err.error,
      error_description: err.error_description,
      detail,
      cause: err,
    });
  }
  if (err instanceof client.ResponseBodyError) {
    // A 401 is client authentication whatever the code (RFC 6749 §5.2); Keycloak says unauthorized_client.
    const code: AuthErrorCode =
      err.error === 'invalid_client' || err.status === 401
        ? 'client_authentication_failed'
        : err.error === 'invalid_grant'
          ? 'code_rejected'
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
    // A 401 from the token endpoint is invalid_client (RFC 6749 §5.2), sent with a challenge.
    const error = err.cause[0]?.parameters.error;
    const code: AuthErrorCode =
      err.status === 401 || error === 'invalid_client'
        ? 'client_authentication_failed'
        : 'token_request_failed';
    return new AuthError(code, {
      error: error ?? (err.status === 401 ? 'invalid_client' : undefined),
      detail,
      cause: err,
    });
  }
  if (isNetworkError(err)) return new AuthError('provider_unreachable', { detail, cause: err });
  if (!tokenRequestSent) {
    // openid-client refused the authorization response itself (repeated or missing parameters,
    // no code) before sending anything. RFC 9207 `iss` was checked before, explicitly.
    return new AuthError('invalid_authorization_response', { detail, cause: err });
  }
  // Past the token request: either the response as a whole or the ID token inside it is bad.
  return new AuthError(isIdTokenFailure(err) ? 'id_token_invalid' : 'invalid_token_response', {
    detail,
    cause: err,
  });
}

/** oauth4webapi codes that, in a token response, only its ID token (the one JWT it validates) raises. */
const ID_TOKEN_CHECK_CODES: ReadonlySet<string> = new Set([
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_KEY_SELECTION_FAILED',
]);

/**
 * Whether openid-client refused the ID token rather than the token response around it, told by
 * the error's structure: its code, and what oauth4webapi attaches as the cause (the ID token's
 * claims, or the compact JWT that would not parse). Never by the message text.
 */
function isIdTokenFailure(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    const cause: unknown = current.cause;
    if (typeof code === 'string' && ID_TOKEN_CHECK_CODES.has(code)) return true;
    if (code === 'OAUTH_INVALID_RESPONSE' || code === 'OAUTH_UNSUPPORTED_OPERATION') {
      // A claim missing or of the wrong type: the cause carries the decoded claims; an
      // unexpected `alg` or a `crit` extension nobody here understands (RFC 7515 §4.1.11): its
      // JOSE header; a JWT that is not one, or an encrypted one (JWE, never registered): the
      // compact string itself. (An unknown token_type carries the response body instead.)
      if (typeof cause === 'string') return true;
      if (typeof cause === 'object' && cause !== null && ('claims' in cause || 'header' in cause))
        return true;
    }
    current = cause;
  }
  return false;
}

/**
 * RFC 9207: the authorization response's `iss` must be this provider's issuer, exactly once;
 * when the provider advertises `authorization_response_iss_parameter_supported` (or the FAPI 2.0
 * profile is on) it must be present. Checked here, before openid-client sees the response, so
 * that a mix-up is classified by an explicit comparison and never redeemed.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9207#section-2.4
 */
function checkAuthorizationResponseIssuer(
  params: URLSearchParams,
  metadata: Readonly<client.ServerMetadata>,
  required: boolean,
): void {
  const values = params.getAll('iss');
  const mustBePresent =
    required || metadata.authorization_response_iss_parameter_supported === true;
  if (values.length === 0 && !mustBePresent) return;
  if (values.length !== 1 || values[0] !== metadata.issuer) {
    throw new AuthError('issuer_mismatch', {
      detail:
        values.length === 0
          ? `the authorization response has no iss (RFC 9207)${required ? ', which OIDC_PROFILE=fapi2 requires' : ''}`
          : values.length > 1
            ? 'iss is repeated in the authorization response'
            : `the authorization response names another issuer: ${values[0]!.slice(0, 200)}`,
    });
  }
}

/**
 * Verifies a signed UserInfo response (`application/jwt`), which openid-client decodes and checks
 * for `iss`, `aud` and `sub` when present but does not verify: its signature against the provider's
 * JWKS with the one algorithm this app accepts from the provider
 * (`OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG`), and `iss` and `aud`, which a signed response MUST carry.
 * A plain JSON response (the usual case, over TLS) needs none of this.
 *
 * MUST: unverified, a signed response is worse than an unsigned one: it looks vouched for.
 *
 * @throws {AuthError} `userinfo_invalid`, or `provider_unreachable` when the JWKS cannot be read.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfoResponse (§5.3.2)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfoResponseValidation (§5.3.4)
 */
async function verifySignedUserInfo(
  trace: BackChannelTrace,
  provider: ProviderContext,
  clientId: string,
  alg: string,
): Promise<void> {
  const endpoint = provider.metadata.userinfo_endpoint;
  if (!endpoint) return;
  const signed = trace.jwtResponses.filter((r) => r.url === stripQuery(endpoint));
  const last = signed.at(-1);
  if (!last) return;
  // The same tolerance as the ID token's and openid-client's: a provider signing `nbf` with its own
  // now, a second ahead of this machine, must not fail a sign-in the ID token passed.
  await verifyProviderJwt(
    provider.jwks,
    last.jwt,
    { algorithms: [alg], issuer: provider.metadata.issuer, audience: clientId },
    'userinfo_invalid',
    'signed UserInfo response rejected',
  );
}

/** The client assertion that is to redeem a callback's code, begun by {@link prepareCodeRedemption}. */
export type CodeRedemption = {
  readonly prepared: Promise<PreparedClientAuthentication | undefined>;
};

/**
 * Begins signing the client assertion that will redeem this callback's code, so that its signature
 * (a WebCrypto job that leaves this thread idle) is made while the callback waits for the session
 * store, not after. Nothing is sent: the code is redeemed by {@link completeSignIn} only, and an
 * assertion never used (the sign-in stopped before) is never seen by anyone. Begin it only for a
 * callback of this browser's sign-in (its transaction found and claimed), so that a stray request
 * costs no signature.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 */
export function prepareCodeRedemption(): CodeRedemption {
  const prepared = getProvider().then(({ metadata, clientAuthentication }) =>
    clientAuthentication === undefined
      ? undefined
      : prepareClientAuthentication(
          clientAuthentication.auth,
          // openid-client calls it with the same metadata, frozen (see lib/discovery.ts).
          metadata,
          clientAuthentication.clientMetadata,
        ),
  );
  // completeSignIn reports a discovery failure itself; this copy must not reject unhandled.
  prepared.catch(() => undefined);
  return { prepared };
}

/**
 * Completes the sign-in: checks the authorization response, redeems the code with a freshly signed
 * client assertion (the one `redemption` began signing, when given), validates the ID token
 * (claims by openid-client, signature against the provider's JWKS here) and, when the provider has
 * one, reads UserInfo for the same subject.
 *
 * @throws {AuthError} for every failure; nothing is stored by this function, and a refresh token
 *   issued before the failure is revoked.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
 * @see https://www.rfc-editor.org/rfc/rfc9207 (authorization response `iss`)
 */
export async function completeSignIn(
  callbackParams: URLSearchParams,
  tx: Transaction,
  redemption?: CodeRedemption,
): Promise<SignInResult> {
  // MUST: a response that does not carry this browser's `state` is refused before anything else,
  // so a code injected into someone else's browser is never redeemed (RFC 9700 §4.7.1). openid-client
  // checks it again; this check is first so that it is explicit.
  const states = callbackParams.getAll('state');
  if (states.length !== 1 || states[0] !== tx.state) {
    throw new AuthError('state_mismatch', {
      detail: states.length > 1 ? 'state is repeated' : 'state differs from the transaction',
    });
  }

  const settings = getConfig();
  const provider = await getProvider();
  // MUST: a response from another provider (mix-up, RFC 9207) is refused before its code is
  // redeemed. Under FAPI 2.0 `iss` is required whatever the provider advertises.
  checkAuthorizationResponseIssuer(
    callbackParams,
    provider.metadata,
    settings.protocol.requireIssParameter,
  );
  const trace = createTrace();
  const started = performance.now();
  // The key the code is bound to (RFC 9449 §10): every request of this callback proves it.
  if (settings.protocol.dpop.enabled && tx.dpop_key === undefined)
    throw new AuthError('missing_transaction', { detail: 'the sign-in began without a DPoP key' });
  const dpopKey = tx.dpop_key === undefined ? undefined : await loadDpopKey(tx.dpop_key);
  const dpop = dpopKey && { DPoP: getDpopHandle(provider.config, dpopKey, 'provider') };
  // Build the callback URL from APP_URL, not from the request: behind proxies and with Next's bind
  // address the request URL differs from the registered redirect_uri.
  const currentUrl = new URL(settings.redirectUri);
  currentUrl.search = callbackParams.toString();

  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  // The token's lifetime counts from before the request: never later than the provider's clock.
  const requestedAt = Date.now();
  try {
    // This is the app's OnAuthorizationCodeReceived (ASP.NET Core): the code is redeemed at the
    // token endpoint, and the client authenticates with a client assertion signed just now with
    // its private key (private_key_jwt) instead of a client secret.
    const prepared = await redemption?.prepared.catch(() => undefined);
    tokens = await withTrace(trace, () =>
      withPreparedClientAuthentication(prepared, () =>
        client.authorizationCodeGrant(
          provider.config,
          currentUrl,
          {
            pkceCodeVerifier: tx.code_verifier,
            expectedState: tx.state,
            expectedNonce: tx.nonce,
            idTokenExpected: true,
          },
          undefined,
          dpop,
        ),
      ),
    );
  } catch (err) {
    throw classifyCodeExchangeError(err, trace.clientAssertions.length > 0);
  }

  try {
    const tokensAt = performance.now();
    // MUST: tokens asked for with a DPoP proof are DPoP-bound, to this key (RFC 9449 §5, §6.1).
    const binding = dpopKey && checkDpopBinding(tokens, dpopKey);
    const claims = tokens.claims();
    const id_token = tokens.id_token;
    if (!claims || !id_token)
      throw new AuthError('invalid_token_response', {
        detail: 'no id_token in the token response',
      });
    const audienceProblem = findAudienceProblem(claims, settings.clientId);
    if (audienceProblem)
      throw new AuthError('id_token_invalid', { detail: `ID token: ${audienceProblem}` });

    // MUST: verify the ID token's signature (openid-client checks its claims, not its signature).
    await verifyIdTokenSignature(
      provider.jwks,
      id_token,
      settings.idTokenSignedResponseAlg,
      'ID token',
    );

    const idTokenAt = performance.now();

    let userinfo: UserInfoResponse | undefined;
    if (provider.metadata.userinfo_endpoint) {
      try {
        // MUST: UserInfo's `sub` must equal the ID token's (OIDC Core §5.3.2); openid-client checks.
        userinfo = await withTrace(trace, () =>
          client.fetchUserInfo(provider.config, tokens.access_token, claims.sub, dpop),
        );
      } catch (err) {
        if (isNetworkError(err))
          throw new AuthError('provider_unreachable', { detail: describeError(err), cause: err });
        const oauth =
          err instanceof client.ResponseBodyError ||
          err instanceof client.WWWAuthenticateChallengeError;
        throw new AuthError('userinfo_invalid', {
          error: err instanceof client.ResponseBodyError ? err.error : undefined,
          error_description:
            err instanceof client.ResponseBodyError ? err.error_description : undefined,
          detail: `${oauth ? 'UserInfo error response' : 'UserInfo response rejected'}: ${describeError(err)}`,
          cause: err,
        });
      }
      await verifySignedUserInfo(
        trace,
        provider,
        settings.clientId,
        settings.idTokenSignedResponseAlg,
      );
    }

    return {
      id_token,
      claims,
      userinfo,
      refresh_token: tokens.refresh_token,
      access_token: describeAccessToken(tokens, requestedAt),
      clientAssertion: trace.clientAssertions.at(-1),
      trace,
      tokens,
      timing: { started, tokens: tokensAt, idToken: idTokenAt, userinfo: performance.now() },
      par: tx.par,
      dpop:
        dpopKey && binding && tx.dpop_key
          ? { key: tx.dpop_key, jkt: dpopKey.jkt, binding, proofs: [...trace.dpopProofs] }
          : undefined,
    };
  } catch (err) {
    // MUST: a sign-in refused after its code was redeemed leaves no grant behind: the refresh
    // token just issued is held by nothing (no session is created), so it is revoked now
    // (RFC 7009 §2; best effort, never thrown).
    if (tokens.refresh_token)
      await revokeRefreshToken(tokens.refresh_token, tokens.claims()?.sub ?? '');
    throw err;
  }
}

/** The access token of a token response, its expiry counted from `requestedAt` (ms). */
function describeAccessToken(
  tokens: {
    readonly access_token: string;
    readonly token_type: string;
    readonly scope?: string | undefined;
    expiresIn(): number | undefined;
  },
  requestedAt: number,
): SignInAccessToken {
  const expiresIn = tokens.expiresIn();
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type.toLowerCase(),
    expires_at: expiresIn === undefined ? undefined : requestedAt + expiresIn * 1000,
    scope: tokens.scope,
  };
}

/** An https URL, or an http one on a loopback host (localhost, 127.0.0.1, ::1). */
export function isSecureEndpoint(raw: string): boolean {
  if (!URL.canParse(raw)) return false;
  const url = new URL(raw);
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackUrl(url));
}

/**
 * The provider's RP-initiated logout URL, or undefined when it has no end_session_endpoint or one
 * that is not https (outside loopback).
 *
 * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout
 */
export async function buildLogoutUrl(idTokenHint: string | undefined): Promise<URL | undefined> {
  const settings = getConfig();
  const { config, metadata } = await getProvider();
  if (!metadata.end_session_endpoint) return undefined;
  // MUST: the browser carries the ID token (`id_token_hint`) to this URL; never in clear text
  // across a network. Logout then ends the session here only.
  if (!isSecureEndpoint(metadata.end_session_endpoint)) {
    log.warn('provider logout skipped', {
      reason: 'end_session_endpoint is not an https URL (http only on loopback)',
      end_session_endpoint: metadata.end_session_endpoint.slice(0, 200),
    });
    return undefined;
  }
  return client.buildEndSessionUrl(config, {
    post_logout_redirect_uri: settings.postLogoutRedirectUri,
    ...(idTokenHint ? { id_token_hint: idTokenHint } : {}),
  });
}
