import { getConfig } from './config';

/**
 * The names of the app's cookies, in one place for the routes (./session.ts) and `proxy.ts`,
 * which must agree on them. Kept free of Next.js and of the session store, so that the proxy can
 * import it without pulling either in.
 */

/**
 * A cookie's name: `__Host-<base>` when APP_URL is https, else `<base>`.
 *
 * MUST (https): the `__Host-` prefix makes browsers accept the cookie only with Secure, Path=/ and
 * no Domain, so a sibling subdomain cannot plant or shadow it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6265bis#section-4.1.3.2 (the `__Host-` prefix)
 */
export function cookieName(base: string, secure = getConfig().secureCookies): string {
  return `${cookiePrefix(secure)}${base}`;
}

/** The prefix of every cookie name of the app: `__Host-` when APP_URL is https (see above). */
export function cookiePrefix(secure = getConfig().secureCookies): '' | '__Host-' {
  return secure ? '__Host-' : '';
}

/** The session cookie's name (`__Host-rp_session` under https, `rp_session` otherwise). */
export function sessionCookieName(secure = getConfig().secureCookies): string {
  return cookieName('rp_session', secure);
}
