/**
 * The two kinds of failure this app knows.
 *
 * - {@link ConfigError}: a setting is missing or wrong. Thrown once, at start, naming every
 *   variable at fault. Nothing a user does in the browser can cause it.
 * - {@link AuthError}: a protocol step failed. It carries a stable `code` (what the error page,
 *   the logs and the tests key on), the OAuth `error` / `error_description` when the provider sent
 *   them, and the underlying `cause`. Never shown to users as a stack trace.
 */

/** One thing wrong with the configuration: which variable, what is wrong, how to fix it. */
export type ConfigProblem = {
  readonly variable: string;
  readonly message: string;
  readonly fix?: string;
};

/** Configuration or programmer error: the app refuses to start. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map(
      (p) => `  - ${p.variable}: ${p.message}${p.fix ? `\n      fix: ${p.fix}` : ''}`,
    );
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

/**
 * Every protocol failure the user can meet, with a title and a hint for the error page.
 * The keys are the stable codes: they appear on the error page and in logs. Add, never rename.
 */
export const AUTH_ERROR_CATALOG = {
  missing_transaction: {
    title: 'This sign-in response does not match a sign-in started in this browser',
    hint:
      'The sign-in transaction cookie is missing or has expired (it lives 10 ' +
      'minutes). This happens when a callback link is opened twice, in another ' +
      'browser, or on another host name. If you were signed in, you still are. ' +
      'Otherwise start the sign-in again.',
  },
  state_mismatch: {
    title: 'The sign-in response belongs to a different sign-in',
    hint:
      'The `state` returned by the provider matches no sign-in this browser started. ' +
      'The link may be stale or forged; the authorization code was not used, and a ' +
      'session you had is unchanged. Start the sign-in again.',
  },
  issuer_mismatch: {
    title: 'The sign-in response came from an unexpected issuer',
    hint:
      'The `iss` parameter of the authorization response (RFC 9207) is missing or ' +
      'names another provider. This protects against mix-up attacks; the code was ' +
      'not used. Check OIDC_ISSUER.',
  },
  authorization_error: {
    title: 'The provider did not sign you in',
    hint:
      'The provider answered the sign-in request with an error (for example you ' +
      'declined consent). Nothing was stored. You can try again.',
  },
  invalid_authorization_response: {
    title: 'The sign-in response is malformed',
    hint: 'The callback URL lacks a code or carries unexpected or repeated parameters. Start the sign-in again.',
  },
  client_authentication_failed: {
    title: 'The provider rejected this app’s client assertion',
    hint:
      'The token endpoint answered invalid_client: the provider does not accept the ' +
      'signed JWT this app authenticates with. Usually: the provider does not have ' +
      'the public key (check the registered JWKS or jwks_uri and the kid), the ' +
      'client_id differs, the audience is not what the provider expects ' +
      '(OIDC_CLIENT_ASSERTION_AUDIENCE), or the clocks differ.',
  },
  client_authentication_likely_failed: {
    title: 'The provider refused this app’s token request without saying why',
    hint:
      'The token endpoint answered 400, 401 or 403 without an OAuth error (an empty body, or an error page ' +
      'instead of JSON). That is how many providers, and the gateways in front of them, refuse a client ' +
      'assertion: the causes are those of invalid_client below. `npm run doctor` finds the settings the ' +
      'provider accepts.',
  },
  code_rejected: {
    title: 'The authorization code was rejected',
    hint:
      'The token endpoint answered invalid_grant: the code was already used (a ' +
      'replayed callback), has expired, or the PKCE verifier does not match. Start ' +
      'the sign-in again.',
  },
  token_request_failed: {
    title: 'The token request failed',
    hint: 'The token endpoint answered with an error. The OAuth error below says which.',
  },
  invalid_token_response: {
    title: 'The provider sent an invalid token response',
    hint:
      'The token endpoint answered with something other than a valid JSON token ' +
      'response (an HTML error page, malformed JSON, or missing access_token / ' +
      'id_token).',
  },
  id_token_invalid: {
    title: 'The ID token failed validation',
    hint:
      'The provider’s ID token has a bad signature, an unexpected algorithm, or ' +
      'wrong iss / aud / azp / exp / iat / nonce / sub. No session was created.',
  },
  userinfo_invalid: {
    title: 'The UserInfo response failed validation',
    hint:
      'The UserInfo endpoint answered with an error or with a `sub` that differs ' +
      'from the ID token’s. No session was created.',
  },
  provider_unreachable: {
    title: 'The provider could not be reached',
    hint:
      'A request to the OpenID Provider failed or timed out (OIDC_HTTP_TIMEOUT_MS). ' +
      'Check that the provider is up and reachable from this server, then try again.',
  },
  discovery_failed: {
    title: 'The provider’s configuration could not be loaded',
    hint:
      'Fetching or validating /.well-known/openid-configuration failed: the provider ' +
      'is down, or its metadata is invalid, or its issuer differs from OIDC_ISSUER.',
  },
  app_misconfigured: {
    title: 'This app’s configuration does not fit the provider',
    hint:
      'A setting of this app contradicts what the provider publishes (its issuer, or ' +
      'the signing algorithms it accepts). The server log names the setting to ' +
      'change.',
  },
  signin_failed: {
    title: 'Sign-in failed',
    hint:
      'An unexpected error interrupted the sign-in. No session was created. Try ' +
      'again; the server log has the details.',
  },
  grant_not_allowed: {
    title: 'The provider does not allow this client the client-credentials grant',
    hint:
      'The token endpoint answered unauthorized_client or unsupported_grant_type: ' +
      'register the client_credentials grant for this client at the provider (its ' +
      'grant_types), or enable the grant there.',
  },
  api_target_rejected: {
    title: 'The provider refused the API or the scope requested',
    hint:
      'The token endpoint answered invalid_target or invalid_scope: the provider ' +
      'does not know the API by API_RESOURCE (its resource indicator, RFC 8707), or ' +
      'does not let this client have API_SCOPE. Register the API and its scope at ' +
      'the provider and allow this client to use them.',
  },
  par_request_failed: {
    title: 'The provider refused the pushed authorization request',
    hint:
      'The app pushes its sign-in request to the provider first (PAR, RFC 9126) and the provider ' +
      'answered with an error, shown below. Usually a setting the provider does not accept for ' +
      'this client (its redirect URI, scope or PKCE), or a provider without PAR. Nothing was stored.',
  },
  dpop_binding_invalid: {
    title: 'The provider did not bind the tokens to this app’s key',
    hint:
      'The app asked for sender-constrained (DPoP, RFC 9449) tokens, but the token response was ' +
      'not DPoP-bound (token_type is not DPoP) or is bound to another key (cnf.jkt). Such tokens ' +
      'work for whoever steals them; no session was created. Check the provider’s DPoP support.',
  },
  not_signed_in: {
    title: 'You are not signed in',
    hint:
      'This needs a signed-in session, and this browser has none (or it has ended). Sign in, ' +
      'then try again.',
  },
  session_expired: {
    title: 'Your session has ended',
    hint:
      'The provider no longer accepts this session’s refresh token: it was revoked (you signed ' +
      'out elsewhere, or an administrator ended the session) or it expired. Sign in again to ' +
      'continue.',
  },
  refresh_unavailable: {
    title: 'This session cannot get new access tokens',
    hint:
      'The provider issued no refresh token at sign-in, so the app cannot get an access token ' +
      'for the API on your behalf. Allow the client the refresh_token grant at the provider ' +
      '(some providers also want the offline_access scope in OIDC_SCOPES), then sign in again.',
  },
  session_store_unavailable: {
    title: 'Sessions are unavailable right now',
    hint:
      'The app cannot reach its session store (Redis). Nobody was signed out: try again in a ' +
      'moment.',
  },
} as const satisfies Record<string, { title: string; hint: string }>;

/** Stable code of a protocol failure. */
export type AuthErrorCode = keyof typeof AUTH_ERROR_CATALOG;

/** Narrow an untrusted string (a query parameter, a cookie) to a known code. */
export function isAuthErrorCode(value: unknown): value is AuthErrorCode {
  return typeof value === 'string' && Object.hasOwn(AUTH_ERROR_CATALOG, value);
}

export type AuthErrorOptions = {
  /** OAuth 2.0 `error` value, when the provider sent one (RFC 6749 §4.1.2.1, §5.2). */
  readonly error?: string | undefined;
  /** OAuth 2.0 `error_description`, when the provider sent one. Untrusted text: escape it. */
  readonly error_description?: string | undefined;
  /** A short, log-safe explanation for operators (never a token or a code). */
  readonly detail?: string | undefined;
  readonly cause?: unknown;
};

/**
 * Provider text on one line, control characters (C0, DEL, C1) and the line and paragraph
 * separators (U+2028, U+2029) turned into spaces. MUST: `error`, `error_description` and the
 * details quoting them come from the provider. RFC 6749 §5.2 allows none of them there, and the
 * CLIs print them to a terminal as they are.
 */
export function oneLine(text: string): string;
export function oneLine(text: string | undefined): string | undefined;
export function oneLine(text: string | undefined): string | undefined {
  return text?.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
}

/** A protocol failure with a stable code; see {@link AUTH_ERROR_CATALOG}. */
export class AuthError extends Error {
  readonly code: AuthErrorCode;
  readonly error: string | undefined;
  readonly error_description: string | undefined;
  readonly detail: string | undefined;

  constructor(code: AuthErrorCode, options: AuthErrorOptions = {}) {
    super(
      [code, oneLine(options.error), oneLine(options.detail)].filter(Boolean).join(': '),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'AuthError';
    this.code = code;
    this.error = oneLine(options.error);
    this.error_description = oneLine(options.error_description);
    this.detail = oneLine(options.detail);
  }
}
