import * as client from 'openid-client';
import type { IDToken, UserInfoResponse } from 'openid-client';

import { backChannelFetch, createTrace, withTrace, type BackChannelTrace } from './back-channel';
import { createClientAuthentication, describeAlgIncompatibility } from './client-assertion';
import { getClockSkew } from './clock-skew';
import { getConfig, type AppConfig } from './config';
import { AuthError, ConfigError, type AuthErrorCode, type ConfigProblem } from './errors';
import { findAudienceProblem } from './id-token';
import { getClientKeySet, type ClientKey } from './keys';
import { describeError, log } from './log';
import { processSlot } from './process-slot';
import { createProviderJwks, JWKS_UNAVAILABLE, type ProviderJwks } from './provider-jwks';
import type { Transaction } from './transaction';

/**
 * Everything this app says to the OpenID Provider, through openid-client: discovery, the
 * authorization request, the code exchange with a client assertion, ID token and UserInfo
 * validation, and the logout URL.
 *
 * Discovery metadata, the provider's JWKS and the imported signing key are loaded once per process
 * and reused, so a sign-in on a warm app costs one back-channel request (the token request) plus
 * UserInfo.
 */

export type ProviderContext = {
  /**
   * openid-client's Configuration, with this app's client authentication installed: every grant
   * or request made with it (code, refresh, client credentials, revocation, PAR) sends a freshly
   * signed client assertion from the current key set.
   */
  readonly config: client.Configuration;
  readonly metadata: Readonly<client.ServerMetadata>;
  readonly jwks: ProviderJwks;
};

const pending = processSlot<Promise<ProviderContext>>('provider');
const discovered = processSlot<Readonly<client.ServerMetadata>>('provider-metadata');
/** The last failed discovery (kept as data: the error's class belongs to the bundle that threw it). */
const lastFailure = processSlot<{ at: number; code: AuthErrorCode; detail: string }>('provider-failure');

/** After a failed discovery, how long requests get that failure before discovery is tried again. */
export const DISCOVERY_RETRY_MS = 2000;

/**
 * Checks, before any request is sent, that the provider supports how this client authenticates.
 *
 * @returns the setting at fault, or undefined.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2 (token_endpoint_auth_* metadata)
 */
export function findIncompatibility(metadata: client.ServerMetadata, signing: ClientKey, idTokenAlg: string): ConfigProblem | undefined {
  const methods = metadata.token_endpoint_auth_methods_supported;
  if (Array.isArray(methods) && !methods.includes('private_key_jwt')) {
    return {
      variable: 'OIDC_ISSUER',
      message: `the provider does not support private_key_jwt (token_endpoint_auth_methods_supported: ${methods.join(', ')})`,
      fix: 'enable private_key_jwt client authentication at the provider',
    };
  }
  // Every ID token would be refused: better to say so now than on each sign-in.
  const idTokenAlgs = metadata.id_token_signing_alg_values_supported;
  if (Array.isArray(idTokenAlgs) && !idTokenAlgs.includes(idTokenAlg)) {
    return {
      variable: 'OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG',
      message: `ID tokens are accepted only when signed with ${idTokenAlg}, but the provider signs with ${idTokenAlgs.join(', ')} (id_token_signing_alg_values_supported)`,
      fix: 'set OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG to the algorithm registered for this client at the provider',
    };
  }
  return describeAlgIncompatibility(signing, metadata.token_endpoint_auth_signing_alg_values_supported);
}

/** The issuer a provider declared when openid-client refused it for not matching OIDC_ISSUER. */
function discoveredIssuerMismatch(err: unknown): string | undefined {
  if (!(err instanceof client.ClientError) || err.code !== 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') return undefined;
  const cause = err.cause as { attribute?: unknown; body?: { issuer?: unknown } } | undefined;
  return cause?.attribute === 'issuer' && typeof cause.body?.issuer === 'string' ? cause.body.issuer : undefined;
}

async function discover(settings: AppConfig): Promise<ProviderContext> {
  const keys = await getClientKeySet();
  // Plain http only for a loopback issuer (lib/config.ts refuses it elsewhere).
  const insecure = settings.issuer.startsWith('http:');
  const execute = insecure ? [client.allowInsecureRequests] : [];
  let config: client.Configuration;
  try {
    config = await client.discovery(
      new URL(settings.issuer),
      settings.clientId,
      {
        redirect_uris: [settings.redirectUri],
        token_endpoint_auth_method: 'private_key_jwt',
        id_token_signed_response_alg: settings.idTokenSignedResponseAlg,
      },
      createClientAuthentication(settings.assertion, { keys: getClientKeySet, clockSkew: getClockSkew }),
      { execute, timeout: settings.httpTimeoutMs / 1000, [client.customFetch]: backChannelFetch },
    );
  } catch (err) {
    const declared = discoveredIssuerMismatch(err);
    if (declared !== undefined) {
      throw new ConfigError([
        {
          variable: 'OIDC_ISSUER',
          message: `the provider at ${settings.issuer} declares its issuer as "${declared}"`,
          fix: 'set OIDC_ISSUER to exactly the issuer the provider declares (scheme, host, path and trailing slash included)',
        },
      ]);
    }
    throw new AuthError(isNetworkError(err) ? 'provider_unreachable' : 'discovery_failed', {
      detail: `discovery of ${settings.issuer} failed: ${describeError(err)}`,
      cause: err,
    });
  }
  const metadata = config.serverMetadata();
  const incompatible = findIncompatibility(metadata, keys.signing, settings.idTokenSignedResponseAlg);
  if (incompatible) throw new ConfigError([incompatible]);
  if (!metadata.jwks_uri) throw new AuthError('discovery_failed', { detail: 'the provider metadata has no jwks_uri' });
  // MUST: the keys that vouch for ID tokens and access tokens travel over TLS like everything
  // else; jose would fetch a plain-http jwks_uri that openid-client's own checks never see.
  if (!URL.canParse(metadata.jwks_uri) || (new URL(metadata.jwks_uri).protocol !== 'https:' && !insecure)) {
    throw new AuthError('discovery_failed', { detail: `the provider's jwks_uri is not an https URL: ${metadata.jwks_uri.slice(0, 200)}` });
  }
  log.info('provider discovered', { issuer: metadata.issuer, token_endpoint: metadata.token_endpoint });
  discovered.set(metadata);
  return { config, metadata, jwks: createProviderJwks(metadata.jwks_uri, settings.httpTimeoutMs) };
}

/**
 * The provider's configuration, discovered on first use and cached. A failed discovery is not
 * kept: after {@link DISCOVERY_RETRY_MS} the next request tries again (the provider may simply
 * have started later than the app).
 *
 * @throws {AuthError} `discovery_failed` or `provider_unreachable` (worth retrying).
 * @throws {ConfigError} when the provider contradicts the configuration (issuer, algorithms).
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 */
export function getProvider(): Promise<ProviderContext> {
  const existing = pending.get();
  if (existing) return existing;
  // While the provider is failing, ask again at most every DISCOVERY_RETRY_MS: otherwise every
  // request (a junk bearer token included) would cost a discovery request and its timeout.
  const failure = lastFailure.get();
  if (failure && Date.now() - failure.at < DISCOVERY_RETRY_MS) {
    return Promise.reject(new AuthError(failure.code, { detail: `${failure.detail} (not retried for ${DISCOVERY_RETRY_MS} ms)` }));
  }
  const attempt = discover(getConfig());
  pending.set(attempt);
  attempt.then(
    () => lastFailure.set(undefined),
    (err: unknown) => {
      if (pending.get() === attempt) pending.set(undefined);
      // Only what is worth retrying; a ConfigError is the configuration's to fix.
      if (err instanceof AuthError) lastFailure.set({ at: Date.now(), code: err.code, detail: err.detail ?? err.message });
    },
  );
  return attempt;
}

/** The provider's metadata once discovery has succeeded in this process; never fetches. */
export function getDiscoveredMetadata(): Readonly<client.ServerMetadata> | undefined {
  return discovered.get();
}

/**
 * Starts the authorization-code flow: a fresh `state`, `nonce` and PKCE verifier, and the URL of
 * the provider's authorization endpoint with the S256 challenge.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2 (S256)
 */
export async function startSignIn(returnTo: string): Promise<{ url: URL; transaction: Transaction }> {
  const settings = getConfig();
  const { config } = await getProvider();
  const code_verifier = client.randomPKCECodeVerifier();
  const transaction: Transaction = {
    state: client.randomState(),
    nonce: client.randomNonce(),
    code_verifier,
    returnTo,
    created_at: Math.floor(Date.now() / 1000),
  };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: settings.redirectUri,
    scope: settings.scopes,
    response_type: 'code',
    code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: 'S256',
    state: transaction.state,
    nonce: transaction.nonce,
  });
  return { url, transaction };
}

export type SignInResult = {
  readonly id_token: string;
  readonly claims: IDToken;
  readonly userinfo: UserInfoResponse | undefined;
  /** The compact client assertion that redeemed the code. */
  readonly clientAssertion: string | undefined;
  readonly trace: BackChannelTrace;
};

function isNetworkFailure(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    (err instanceof TypeError && /fetch failed|terminated|network/i.test(err.message)) ||
    code === 'OAUTH_TIMEOUT' ||
    code === 'OAUTH_ABORT' ||
    code === JWKS_UNAVAILABLE ||
    (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
  );
}

/**
 * The provider could not be reached or did not answer in time: the error or one of its causes
 * (a timeout while reading a body surfaces as a parse error caused by the abort).
 */
export function isNetworkError(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (isNetworkFailure(current)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The configuration problem behind a failed request, if any: the client authentication refuses
 * to sign what the provider would reject (openid-client wraps the error as a ClientError's cause).
 */
export function findConfigError(err: unknown): ConfigError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof ConfigError) return current;
    current = current.cause;
  }
  return undefined;
}

/** Maps a failure of the code exchange onto a stable {@link AuthError}. */
function classifyCodeExchangeError(err: unknown, tokenRequestSent: boolean): AuthError {
  const detail = describeError(err);
  const misconfigured = findConfigError(err);
  if (misconfigured) return new AuthError('app_misconfigured', { detail: misconfigured.message, cause: err });
  if (err instanceof client.AuthorizationResponseError) {
    return new AuthError('authorization_error', { error: err.error, error_description: err.error_description, detail, cause: err });
  }
  if (err instanceof client.ResponseBodyError) {
    const code: AuthErrorCode =
      err.error === 'invalid_client' ? 'client_authentication_failed' : err.error === 'invalid_grant' ? 'code_rejected' : 'token_request_failed';
    return new AuthError(code, { error: err.error, error_description: err.error_description, detail, cause: err });
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    // A 401 from the token endpoint is invalid_client (RFC 6749 §5.2), sent with a challenge.
    const error = err.cause[0]?.parameters.error;
    const code: AuthErrorCode = err.status === 401 || error === 'invalid_client' ? 'client_authentication_failed' : 'token_request_failed';
    return new AuthError(code, { error: error ?? (err.status === 401 ? 'invalid_client' : undefined), detail, cause: err });
  }
  if (isNetworkError(err)) return new AuthError('provider_unreachable', { detail, cause: err });
  if (!tokenRequestSent) {
    // openid-client refused the authorization response itself (RFC 9207 `iss`, repeated or
    // missing parameters, no code) before sending anything.
    const code: AuthErrorCode = /"iss"/.test(detail) ? 'issuer_mismatch' : 'invalid_authorization_response';
    return new AuthError(code, { detail, cause: err });
  }
  // Past the token request: either the response as a whole or the ID token inside it is bad.
  return new AuthError(/\bJWT\b|ID Token/.test(detail) ? 'id_token_invalid' : 'invalid_token_response', { detail, cause: err });
}

/**
 * Completes the sign-in: checks the authorization response, redeems the code with a freshly signed
 * client assertion, validates the ID token (claims by openid-client, signature against the
 * provider's JWKS here) and, when the provider has one, reads UserInfo for the same subject.
 *
 * @throws {AuthError} for every failure; nothing is stored by this function.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
 * @see https://www.rfc-editor.org/rfc/rfc9207 (authorization response `iss`)
 */
export async function completeSignIn(callbackParams: URLSearchParams, tx: Transaction): Promise<SignInResult> {
  // MUST: a response that does not carry this browser's `state` is refused before anything else,
  // so a code injected into someone else's browser is never redeemed (RFC 9700 §4.7.1). openid-client
  // checks it again; this check is first so that it is explicit.
  const states = callbackParams.getAll('state');
  if (states.length !== 1 || states[0] !== tx.state) {
    throw new AuthError('state_mismatch', { detail: states.length > 1 ? 'state is repeated' : 'state differs from the transaction' });
  }

  const settings = getConfig();
  const provider = await getProvider();
  const trace = createTrace();
  // Build the callback URL from APP_URL, not from the request: behind proxies and with Next's bind
  // address the request URL differs from the registered redirect_uri.
  const currentUrl = new URL(settings.redirectUri);
  currentUrl.search = callbackParams.toString();

  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    // This is the app's OnAuthorizationCodeReceived (ASP.NET Core): the code is redeemed at the
    // token endpoint, and the client authenticates with a client assertion signed just now with
    // its private key (private_key_jwt) instead of a client secret.
    tokens = await withTrace(trace, () =>
      client.authorizationCodeGrant(provider.config, currentUrl, {
        pkceCodeVerifier: tx.code_verifier,
        expectedState: tx.state,
        expectedNonce: tx.nonce,
        idTokenExpected: true,
      }),
    );
  } catch (err) {
    throw classifyCodeExchangeError(err, trace.clientAssertions.length > 0);
  }

  const claims = tokens.claims();
  const id_token = tokens.id_token;
  if (!claims || !id_token) throw new AuthError('invalid_token_response', { detail: 'no id_token in the token response' });
  const audienceProblem = findAudienceProblem(claims, settings.clientId);
  if (audienceProblem) throw new AuthError('id_token_invalid', { detail: `ID token: ${audienceProblem}` });

  // MUST: verify the ID token's signature. openid-client validates its claims but, for ID tokens
  // received from the token endpoint, not its signature unless asked; this app does it with its
  // own JWKS cache so that a provider key rotated moments ago is picked up at once.
  try {
    await provider.jwks.verify(
      id_token,
      { algorithms: [settings.idTokenSignedResponseAlg], clockTolerance: 30 },
      true,
    );
  } catch (err) {
    throw isNetworkError(err)
      ? new AuthError('provider_unreachable', { detail: `fetching the provider's JWKS failed: ${describeError(err)}`, cause: err })
      : new AuthError('id_token_invalid', { detail: `ID token signature: ${describeError(err)}`, cause: err });
  }

  let userinfo: UserInfoResponse | undefined;
  if (provider.metadata.userinfo_endpoint) {
    try {
      // MUST: UserInfo's `sub` must equal the ID token's (OIDC Core §5.3.2); openid-client checks.
      userinfo = await withTrace(trace, () => client.fetchUserInfo(provider.config, tokens.access_token, claims.sub));
    } catch (err) {
      if (isNetworkError(err)) throw new AuthError('provider_unreachable', { detail: describeError(err), cause: err });
      const oauth = err instanceof client.ResponseBodyError || err instanceof client.WWWAuthenticateChallengeError;
      throw new AuthError('userinfo_invalid', {
        error: err instanceof client.ResponseBodyError ? err.error : undefined,
        error_description: err instanceof client.ResponseBodyError ? err.error_description : undefined,
        detail: `${oauth ? 'UserInfo error response' : 'UserInfo response rejected'}: ${describeError(err)}`,
        cause: err,
      });
    }
  }

  return { id_token, claims, userinfo, clientAssertion: trace.clientAssertions.at(-1), trace };
}

/**
 * The provider's RP-initiated logout URL, or undefined when it has no end_session_endpoint.
 *
 * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout
 */
export async function buildLogoutUrl(idTokenHint: string | undefined): Promise<URL | undefined> {
  const settings = getConfig();
  const { config, metadata } = await getProvider();
  if (!metadata.end_session_endpoint) return undefined;
  return client.buildEndSessionUrl(config, {
    post_logout_redirect_uri: settings.postLogoutRedirectUri,
    ...(idTokenHint ? { id_token_hint: idTokenHint } : {}),
  });
}
