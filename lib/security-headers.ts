import { randomBytes } from 'node:crypto';

/**
 * The Content-Security-Policy of every page, built per request around a fresh nonce (by
 * `proxy.ts`). Next.js reads the nonce from the request's CSP header and puts it on its own
 * scripts; `'strict-dynamic'` lets those scripts load the rest of the bundle. No inline script or
 * style without the nonce runs, nothing loads from another origin, no one may frame the app, and
 * forms may only post here or to the provider (the sign-out form's redirect ends at the provider's
 * end_session_endpoint, and browsers check form-action on redirects too).
 *
 * The static headers (nosniff, Referrer-Policy, X-Frame-Options, and HSTS when the build knows
 * that APP_URL is https) are in next.config.js.
 *
 * @see https://www.w3.org/TR/CSP3/#strict-dynamic-usage
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.16 (clickjacking: frame-ancestors)
 */

export type CspOptions = {
  /** Origins forms may submit (and redirect) to, besides this app. */
  readonly formActions: readonly string[];
  /** APP_URL is https: upgrade any http subresource. */
  readonly https: boolean;
  /** `next dev`: React's development build needs eval and unnonced styles. */
  readonly development: boolean;
};

/**
 * `Strict-Transport-Security` for an https APP_URL: one year, this host only (no
 * `includeSubDomains`: the app cannot speak for its parent domain's other hosts). Browsers ignore it
 * on plain http (RFC 6797 §8.1), so it is sent only when APP_URL is https.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6797#section-6.1
 */
export const STRICT_TRANSPORT_SECURITY = 'max-age=31536000';

/** A fresh CSP nonce: 128 random bits, base64. */
export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

/** The page CSP for `nonce`. */
export function buildContentSecurityPolicy(nonce: string, options: CspOptions): string {
  const formActions = [...new Set(options.formActions)].join(' ');
  const directives = [
    `default-src 'self'`,
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${options.development ? ` 'unsafe-eval'` : ''}`,
    `style-src 'self' ${options.development ? `'unsafe-inline'` : `'nonce-${nonce}'`}`,
    `img-src 'self' data:`,
    `font-src 'self'`,
    `connect-src 'self'`,
    `object-src 'none'`,
    `base-uri 'none'`,
    `form-action 'self'${formActions ? ` ${formActions}` : ''}`,
    `frame-ancestors 'none'`,
    ...(options.https ? ['upgrade-insecure-requests'] : []),
  ];
  return directives.join('; ');
}
