import { getConfig } from './config';
import { getDiscoveredMetadata } from './discovery';
import {
  buildContentSecurityPolicy,
  createNonce,
  STRICT_TRANSPORT_SECURITY,
} from './security-headers';

/**
 * The per-response security headers: a Content-Security-Policy around a fresh nonce and, when
 * APP_URL is https, Strict-Transport-Security. `proxy.ts` sets them on pages (where Next.js needs
 * the nonce in the request to put it on its scripts); the hot route handlers set them themselves
 * with {@link withSecurityHeaders}, which costs a header and not a proxy pass per request.
 *
 * @see https://www.w3.org/TR/CSP3/#strict-dynamic-usage
 * @see https://www.rfc-editor.org/rfc/rfc6797#section-6.1 (Strict-Transport-Security)
 */

export type SecurityHeaders = {
  readonly 'content-security-policy': string;
  readonly 'strict-transport-security'?: string;
};

/** The origin of the provider's end_session_endpoint, if it is an http(s) URL at all. */
function endSessionOrigin(endpoint: string | undefined): string[] {
  if (!endpoint || !URL.canParse(endpoint)) return [];
  const url = new URL(endpoint);
  return url.protocol === 'https:' || url.protocol === 'http:' ? [url.origin] : [];
}

/** The security headers of one response, built around `nonce`. */
export function buildSecurityHeaders(nonce: string): SecurityHeaders {
  const settings = getConfig();
  const csp = buildContentSecurityPolicy(nonce, {
    formActions: [
      new URL(settings.issuer).origin,
      ...endSessionOrigin(getDiscoveredMetadata()?.end_session_endpoint),
    ],
    https: settings.secureCookies,
    development: process.env.NODE_ENV === 'development',
  });
  return {
    'content-security-policy': csp,
    // MUST (https only): browsers remember to never try plain http here again.
    ...(settings.secureCookies ? { 'strict-transport-security': STRICT_TRANSPORT_SECURITY } : {}),
  };
}

/**
 * Wraps a route handler so that its response carries the same security headers as a page, with a
 * nonce of its own. For route handlers that `proxy.ts`'s matcher leaves out.
 */
export function withSecurityHeaders<A extends unknown[]>(
  handler: (...args: A) => Promise<Response>,
): (...args: A) => Promise<Response> {
  return async (...args: A) => {
    const response = await handler(...args);
    for (const [name, value] of Object.entries(buildSecurityHeaders(createNonce())))
      response.headers.set(name, value);
    return response;
  };
}
