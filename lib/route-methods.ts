import { withSecurityHeaders } from './response-security';

/**
 * The answers of a route handler to the methods it does not implement. Next.js answers them 405
 * without an `Allow` header, which RFC 9110 §15.5.6 requires ("The origin server MUST generate an
 * Allow header field in a 405 response"), and its automatic OPTIONS lists every exported method,
 * so a route exports these instead: 405 with `Allow` for each other method, and OPTIONS (204)
 * with the same `Allow`. HEAD follows GET (Next.js runs GET without its body).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6 (405 Method Not Allowed)
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.1 (Allow)
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-9.3.7 (OPTIONS)
 */

type Handler = () => Promise<Response>;

function answer(status: 204 | 405, allow: string): Handler {
  return withSecurityHeaders(
    async () => new Response(null, { status, headers: { allow, 'cache-control': 'no-store' } }),
  );
}

/** For a route that exports GET only: every other method. */
export function otherMethodsThanGet(): {
  OPTIONS: Handler;
  POST: Handler;
  PUT: Handler;
  DELETE: Handler;
  PATCH: Handler;
} {
  const allow = 'GET, HEAD, OPTIONS';
  const refuse = answer(405, allow);
  return { OPTIONS: answer(204, allow), POST: refuse, PUT: refuse, DELETE: refuse, PATCH: refuse };
}

/** For a route that exports POST only: every other method (HEAD follows this GET). */
export function otherMethodsThanPost(): {
  OPTIONS: Handler;
  GET: Handler;
  PUT: Handler;
  DELETE: Handler;
  PATCH: Handler;
} {
  const allow = 'OPTIONS, POST';
  const refuse = answer(405, allow);
  return { OPTIONS: answer(204, allow), GET: refuse, PUT: refuse, DELETE: refuse, PATCH: refuse };
}
