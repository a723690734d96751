import * as client from 'openid-client';

import { AuthError, oneLine } from './errors';

/**
 * What a token endpoint answered, judged by its structure (status, content type, the OAuth error
 * member), never by the wording of a message.
 *
 * RFC 6749 §5.2 says a refused client authentication is `400`/`401` with a JSON body whose `error`
 * is `invalid_client`. Real deployments also answer `403` with an empty body (a gateway or a web
 * application firewall in front of the provider), or an HTML error page. Those carry no OAuth
 * error at all; they are still the provider refusing the client, and this module says so instead
 * of calling them a malformed token response.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */

/** The most of a body that is read (an HTML error page can be large). */
const MAX_BODY_BYTES = 64 * 1024;

export type TokenEndpointAnswer = {
  readonly status: number;
  /** The media type without parameters, lowercase; undefined when the header is absent. */
  readonly contentType: string | undefined;
  /** `json`: a JSON object; `empty`: no body at all; `other`: anything else (HTML, text, bad JSON). */
  readonly body: 'json' | 'empty' | 'other';
  readonly bodyBytes: number;
  /** The OAuth `error` member of a JSON body. */
  readonly error?: string | undefined;
  readonly error_description?: string | undefined;
  readonly wwwAuthenticate?: string | undefined;
  /** The `Date` header, for the provider's clock. */
  readonly date?: string | undefined;
  /** Member names of a JSON success body (`access_token`, `id_token`, …), never their values. */
  readonly members?: readonly string[] | undefined;
};

/** How a token request ended for client authentication. */
export type ClientAuthVerdict =
  /** The provider got past client authentication: a token, or `invalid_grant` for the grant. */
  | 'authenticated'
  /** 400, 401 or 403 without getting past client authentication, JSON or not. */
  | 'refused'
  /** Anything else (5xx, 404, a redirect): says nothing about client authentication. */
  | 'unclear';

function mediaType(headers: Headers): string | undefined {
  const raw = headers.get('content-type');
  return raw ? raw.split(';')[0]?.trim().toLowerCase() || undefined : undefined;
}

/**
 * A provider's string, shortened and on one line. MUST: control characters (CR/LF that Entra ID
 * puts in its descriptions, or a terminal escape a hostile provider sends) become spaces before
 * the text reaches a terminal or a log line; RFC 6749 §5.2 allows none in these members.
 */
function shortText(value: unknown, max = 500): string | undefined {
  if (typeof value !== 'string') return undefined;
  return oneLine(value).trim().slice(0, max);
}

/**
 * Reads a token endpoint response without consuming it (a clone), at most 64 KB of body.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 (success) and §5.2 (error)
 */
export async function readTokenEndpointAnswer(response: Response): Promise<TokenEndpointAnswer> {
  const copy = response.clone();
  const bytes = new Uint8Array(await copy.arrayBuffer()).subarray(0, MAX_BODY_BYTES);
  const base = {
    status: response.status,
    contentType: mediaType(response.headers),
    bodyBytes: bytes.length,
    wwwAuthenticate: shortText(response.headers.get('www-authenticate') ?? undefined),
    date: response.headers.get('date') ?? undefined,
  };
  if (bytes.length === 0) return { ...base, body: 'empty' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { ...base, body: 'other' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { ...base, body: 'other' };
  const json = parsed as Record<string, unknown>;
  return {
    ...base,
    body: 'json',
    error: shortText(json.error, 100),
    error_description: shortText(json.error_description),
    members: Object.keys(json).slice(0, 20),
  };
}

/**
 * Whether the provider got past client authentication. A provider authenticates the client before
 * it looks at the grant, so `invalid_grant` (for a made-up code) passes; so does a token.
 *
 * `invalid_grant` counts on a 403 as on a 400: Auth0 answers a bad code with `403 invalid_grant`
 * (RFC 6749 §5.2 says 400 "unless specified otherwise"); the error code names the check that
 * failed. A 401 stays a refusal: it is the status of client authentication (§5.2).
 */
export function judgeClientAuthentication(answer: TokenEndpointAnswer): ClientAuthVerdict {
  if (answer.status === 200 && answer.body === 'json' && answer.members?.includes('access_token'))
    return 'authenticated';
  if ((answer.status === 400 || answer.status === 403) && answer.error === 'invalid_grant')
    return 'authenticated';
  if (answer.status === 400 || answer.status === 401 || answer.status === 403) return 'refused';
  return 'unclear';
}

/** One line: `401 invalid_client: …`, `403, empty body`, `400, text/html (812 bytes), not JSON`. */
export function describeTokenEndpointAnswer(answer: TokenEndpointAnswer): string {
  const parts = [String(answer.status)];
  if (answer.body === 'json') {
    if (answer.error)
      parts[0] += ` ${answer.error}${answer.error_description ? `: ${answer.error_description}` : ''}`;
    else parts.push(`JSON without an OAuth error (${(answer.members ?? []).join(', ')})`);
  } else if (answer.body === 'empty') {
    parts.push(`empty body${answer.contentType ? ` (content type ${answer.contentType})` : ''}`);
  } else {
    parts.push(
      `${answer.contentType ?? 'no content type'} (${answer.bodyBytes} bytes), not an OAuth JSON answer`,
    );
  }
  if (answer.wwwAuthenticate) parts.push(`WWW-Authenticate: ${answer.wwwAuthenticate}`);
  return parts.join(', ');
}

/** Status and content type of a token endpoint answer that refused the client without OAuth error. */
type SilentRefusal = {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly wwwAuthenticate: string | undefined;
};

const REFUSAL_STATUSES = new Set([400, 401, 403]);

function responseOf(err: unknown): Response | undefined {
  if (err instanceof client.WWWAuthenticateChallengeError) return err.response;
  if (
    err instanceof client.ClientError &&
    (err.code === 'OAUTH_RESPONSE_IS_NOT_JSON' || err.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') &&
    err.cause instanceof Response
  )
    return err.cause;
  return undefined;
}

/**
 * A token endpoint answer that refused the client without a usable OAuth error: a 400, 401 or 403
 * that is not JSON (an empty body, an HTML page), JSON without `error`, or a 401 challenge
 * (`WWW-Authenticate`) instead of a body. Judged from openid-client's error structure: its code
 * and the response it carries (status and content type), never the message.
 */
function findSilentRefusal(err: unknown): SilentRefusal | undefined {
  const response = responseOf(err);
  if (!response || !REFUSAL_STATUSES.has(response.status)) return undefined;
  // A challenge on a 400 or 403 with a JSON error would have been a ResponseBodyError; a
  // challenge with another status than 401 still names no OAuth error the app can use.
  return {
    status: response.status,
    contentType: mediaType(response.headers),
    wwwAuthenticate: shortText(response.headers.get('www-authenticate') ?? undefined, 200),
  };
}

/** `403 with an empty body`, `400 with text/html`. */
function describeSilentRefusal(refusal: SilentRefusal): string {
  const what = refusal.wwwAuthenticate
    ? `a WWW-Authenticate challenge (${refusal.wwwAuthenticate})`
    : refusal.contentType
      ? `${refusal.contentType} instead of an OAuth JSON error`
      : 'no content type (an empty body or no OAuth error)';
  return `${refusal.status} with ${what}`;
}

/**
 * The {@link AuthError} for a token request refused without a usable OAuth error body:
 *
 * - a 401 with a `WWW-Authenticate` challenge is `invalid_client` (RFC 6749 §5.2 reserves 401 for
 *   it): `client_authentication_failed`;
 * - a 400, 401 or 403 that is not an OAuth JSON error (an empty body, an HTML page):
 *   `client_authentication_likely_failed`, with the same hints — nothing else refuses a token
 *   request before the provider reads it, and a gateway in front of a provider answers so.
 *
 * @returns undefined when `err` is not such a refusal.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function classifyTokenEndpointRefusal(err: unknown): AuthError | undefined {
  const refusal = findSilentRefusal(err);
  if (!refusal) return undefined;
  if (err instanceof client.WWWAuthenticateChallengeError && refusal.status === 401) {
    return new AuthError('client_authentication_failed', {
      error: err.cause[0]?.parameters.error ?? 'invalid_client',
      detail: `the token endpoint answered ${describeSilentRefusal(refusal)}`,
      cause: err,
    });
  }
  return new AuthError('client_authentication_likely_failed', {
    detail:
      `the token endpoint answered ${describeSilentRefusal(refusal)}: most likely it refused the client ` +
      `assertion (npm run doctor finds out)`,
    cause: err,
  });
}
