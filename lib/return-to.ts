/**
 * Where to send the browser after sign-in.
 *
 * MUST: only same-origin paths, or `/auth/login?returnTo=https://evil.example` becomes an open
 * redirect that lends the app's name to phishing (RFC 9700 §4.11). The decision is made by parsing
 * the value against the app's origin and comparing origins, never with a pattern on the raw
 * string: URL parsing drops tabs and newlines and reads `\` as `/`, so `/\evil.example` and
 * `/<TAB>/evil.example` name another host.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.11 (open redirection)
 */

/** Where a rejected or missing `returnTo` leads. */
export const DEFAULT_RETURN_TO = '/';

/** Longest `returnTo` kept: it travels in the size-limited transaction cookie. */
export const MAX_RETURN_TO_LENGTH = 512;

/**
 * A safe, normalised, same-origin path (`/path?query#hash`) for `raw`, or `/`.
 *
 * @param appOrigin The app's own origin, e.g. `http://localhost:3000`.
 */
export function sanitizeReturnTo(raw: string | null | undefined, appOrigin: string): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_RETURN_TO_LENGTH)
    return DEFAULT_RETURN_TO;
  const origin = new URL(appOrigin).origin;
  // Only a path that is absolute on this origin: no scheme, no `//host`, no `\host`.
  if (!isSameOriginPath(raw, origin)) return DEFAULT_RETURN_TO;
  const url = new URL(raw, origin);
  // The sign-in routes themselves are never a destination (loops, or a GET to a POST route).
  if (url.pathname === '/auth' || url.pathname.startsWith('/auth/')) return DEFAULT_RETURN_TO;
  const normalised = `${url.pathname}${url.search}${url.hash}`;
  // MUST: normalising can itself produce another host: dot segments collapse `/.//evil.example`,
  // `/..//evil.example` and `/%2e%2e//evil.example` into `//evil.example`, which a browser (and
  // `new URL`) reads as protocol-relative. The result is held to the same rule as the input.
  return normalised.length <= MAX_RETURN_TO_LENGTH && isSameOriginPath(normalised, origin)
    ? normalised
    : DEFAULT_RETURN_TO;
}

/** `path` starts with one `/` and, resolved against `origin`, stays on it. */
function isSameOriginPath(path: string, origin: string): boolean {
  if (!path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return false;
  try {
    return new URL(path, origin).origin === origin;
  } catch {
    return false;
  }
}
