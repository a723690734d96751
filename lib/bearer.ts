/**
 * The wire format of bearer tokens (RFC 6750) on the resource-server side: reading the token from
 * the `Authorization` header, and answering with the right status and `WWW-Authenticate` challenge
 * when the request cannot have what it asks for.
 *
 * No JWT knowledge here (see ./resource-server.ts): this module decides only whether a request
 * carries one syntactically valid bearer token, in the one way this API accepts it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1 (Authorization request header field)
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3 (WWW-Authenticate response header field)
 */

import { NO_STORE_NO_TRANSFORM } from './cache-control';

/** The error codes of RFC 6750 §3.1. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** RFC 6750's codes plus RFC 9449's for the DPoP scheme (§7.1 `invalid_dpop_proof`, §9 `use_dpop_nonce`). */
export type ChallengeErrorCode = BearerErrorCode | 'invalid_dpop_proof' | 'use_dpop_nonce';

/** The authentication schemes an access token can arrive with. */
export type AuthScheme = 'bearer' | 'dpop';

/** What a `WWW-Authenticate: Bearer` challenge says. */
export type BearerChallenge = {
  readonly realm?: string | undefined;
  readonly error?: BearerErrorCode | undefined;
  readonly error_description?: string | undefined;
  /** Space-separated scope tokens needed (RFC 6750 §3, with insufficient_scope). */
  readonly scope?: string | undefined;
};

/**
 * A challenge of either scheme: `Bearer` (RFC 6750 §3) or `DPoP` (RFC 9449 §7.1, which adds
 * `algs`, the proof algorithms the server accepts).
 */
export type Challenge = Omit<BearerChallenge, 'error'> & {
  /** Default `bearer`. */
  readonly scheme?: AuthScheme | undefined;
  readonly error?: ChallengeErrorCode | undefined;
  /** Space-separated JWS algorithms for DPoP proofs (DPoP scheme only). */
  readonly algs?: string | undefined;
};

/** The outcome of reading the credentials of a request. */
export type BearerCredentials =
  /** One syntactically valid bearer token, sent in the Authorization header. */
  | { readonly kind: 'token'; readonly token: string }
  /**
   * No credentials this API understands: no Authorization header, another scheme (`Basic`), or a
   * token sent in the query string, a method this API does not support. RFC 6750 §3.1: answer 401
   * with a bare challenge, no error code.
   */
  | { readonly kind: 'none'; readonly reason: string }
  /** Malformed request (RFC 6750 §3.1 `invalid_request`, 400). */
  | { readonly kind: 'invalid_request'; readonly description: string }
  /** A Bearer header whose token is empty or not a token at all (`invalid_token`, 401). */
  | { readonly kind: 'invalid_token'; readonly description: string };

/**
 * Longest accepted token. Node refuses request headers over 16 KiB anyway; a JWT access token of
 * this profile is well under 2 KiB. Bounding it keeps the work done on untrusted input small.
 */
export const MAX_BEARER_TOKEN_LENGTH = 8192;

/** RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Reads the bearer token of a request, accepting only the Authorization request header field
 * (RFC 6750 §2.1); the form-body (§2.2) and query (§2.3) methods are not supported here.
 *
 * Decisions, each with its rule:
 * - no header, or another scheme: `none` (§3.1: "the request lacks any authentication
 *   information ... or attempted using an unsupported authentication method" → no error code);
 * - `access_token` in the query as well as a Bearer header: `invalid_request` (§2: "Clients MUST
 *   NOT use more than one method"; §3.1: "uses more than one method for including an access
 *   token");
 * - a comma in Bearer credentials: `invalid_request`. Authorization holds one credential (RFC 9110
 *   §11.6.2) and a b64token has no comma; a comma is how a repeated header arrives merged by an
 *   intermediary (§3.1: "repeats the same parameter"). Two separate Authorization lines never get
 *   here: Node's HTTP parser keeps the first and discards the rest;
 * - `Bearer` with no token, or one that is not a b64token: `invalid_token` (§3.1: "The access token
 *   provided is ... malformed").
 *
 * The scheme is matched case-insensitively (RFC 9110 §11.1).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function readBearerCredentials(
  authorization: string | null | undefined,
  url: URL,
): BearerCredentials {
  const credentials = readAccessTokenCredentials(authorization, url, ['bearer']);
  return credentials.kind === 'token' ? { kind: 'token', token: credentials.token } : credentials;
}

/** {@link BearerCredentials}, with the scheme the token came with. */
export type AccessTokenCredentials =
  | { readonly kind: 'token'; readonly scheme: AuthScheme; readonly token: string }
  | Exclude<BearerCredentials, { kind: 'token' }>;

/**
 * Reads the access token of a request sent with one of `schemes`: `Bearer` (RFC 6750 §2.1) or
 * `DPoP` (RFC 9449 §7.1, the same token68 syntax), by the rules of {@link readBearerCredentials}.
 * Another scheme is `none`: no credentials this API understands.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function readAccessTokenCredentials(
  authorization: string | null | undefined,
  url: URL,
  schemes: readonly AuthScheme[],
): AccessTokenCredentials {
  const inQuery = url.searchParams.has('access_token');
  const header = authorization?.trim() ?? '';
  if (header === '') {
    return {
      kind: 'none',
      reason: inQuery
        ? 'access_token in the query string is not supported'
        : 'no Authorization header',
    };
  }
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const accepted = schemes.find((s) => s === scheme);
  if (accepted === undefined) {
    return { kind: 'none', reason: `unsupported authentication scheme ${scheme.slice(0, 20)}` };
  }
  const name = accepted === 'dpop' ? 'DPoP' : 'bearer';
  if (inQuery) {
    return {
      kind: 'invalid_request',
      description: 'The access token must be sent in one way only: the Authorization header',
    };
  }
  const token = space === -1 ? '' : header.slice(space + 1).replace(/^ +/, '');
  if (token.includes(',')) {
    return { kind: 'invalid_request', description: 'More than one Authorization credential' };
  }
  if (token === '') return { kind: 'invalid_token', description: `The ${name} token is empty` };
  if (token.length > MAX_BEARER_TOKEN_LENGTH)
    return { kind: 'invalid_token', description: `The ${name} token is too long` };
  if (!B64TOKEN.test(token))
    return { kind: 'invalid_token', description: `The ${name} token is malformed` };
  return { kind: 'token', scheme: accepted, token };
}

/**
 * Makes a string safe inside a quoted auth-param value. RFC 6750 §3 allows only
 * %x20-21 / %x23-5B / %x5D-7E in `error_description` and `scope` (no `"`, no `\`, nothing outside
 * printable ASCII); the same restriction on `realm` is stricter than RFC 9110 requires and spares
 * us escaping. Whatever else a value holds is replaced, so a header can never be split or broken.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function sanitizeQuotedValue(value: string, maxLength = 300): string {
  return value
    .slice(0, maxLength)
    .replace(/"/g, "'")
    .replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '?');
}

/**
 * The value of a `WWW-Authenticate` header for the Bearer scheme.
 *
 * MUST: RFC 6750 §3 requires at least one auth-param after "Bearer", so `realm` is always sent.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function formatBearerChallenge(challenge: BearerChallenge): string {
  return formatChallenge({ ...challenge, scheme: 'bearer' });
}

/**
 * One challenge of either scheme. `realm` always comes first (RFC 6750 §3 needs an auth-param);
 * the DPoP scheme adds `algs` (RFC 9449 §7.1).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function formatChallenge(challenge: Challenge): string {
  const params: Array<[string, string]> = [['realm', challenge.realm ?? 'api']];
  if (challenge.error) params.push(['error', challenge.error]);
  if (challenge.error_description) params.push(['error_description', challenge.error_description]);
  if (challenge.scope) params.push(['scope', challenge.scope]);
  if (challenge.scheme === 'dpop' && challenge.algs) params.push(['algs', challenge.algs]);
  const scheme = challenge.scheme === 'dpop' ? 'DPoP' : 'Bearer';
  return `${scheme} ${params.map(([name, value]) => `${name}="${sanitizeQuotedValue(value)}"`).join(', ')}`;
}

/**
 * The status RFC 6750 §3.1 gives each error code (RFC 9449's are 401s); 401 when there is none.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function getChallengeStatus(error: ChallengeErrorCode | undefined): 400 | 401 | 403 {
  switch (error) {
    case 'invalid_request':
      return 400;
    case 'insufficient_scope':
      return 403;
    default:
      return 401;
  }
}

/**
 * The answer to a request refused for its credentials: status per RFC 6750 §3.1, the challenge
 * that carries the error, then one bare challenge per other scheme the API accepts (RFC 9110
 * §11.6.1 allows several; RFC 9449 §7.2 shows `Bearer` and `DPoP` side by side), extra headers
 * (`DPoP-Nonce`, RFC 9449 §9), `Cache-Control: no-store`, and the error as JSON for people reading
 * it with curl (no body when there is no error: §3.1 asks for no error information then).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.2
 */
export function challengeErrorResponse(
  challenge: Challenge,
  others: readonly Challenge[] = [],
  extraHeaders: Readonly<Record<string, string>> = {},
): Response {
  const headers = new Headers({ 'cache-control': NO_STORE_NO_TRANSFORM, ...extraHeaders });
  for (const c of [challenge, ...others]) headers.append('www-authenticate', formatChallenge(c));
  const status = getChallengeStatus(challenge.error);
  if (!challenge.error) return new Response(null, { status, headers });
  return Response.json(
    {
      error: challenge.error,
      ...(challenge.error_description
        ? { error_description: sanitizeQuotedValue(challenge.error_description) }
        : {}),
      ...(challenge.scope ? { scope: challenge.scope } : {}),
    },
    { status, headers },
  );
}
