import { NextResponse, type NextRequest } from 'next/server';

import { buildSecurityHeaders } from './lib/response-security';
import { createNonce } from './lib/security-headers';

/**
 * Runs before every page: a nonce-based Content-Security-Policy, fresh per request (and HSTS on
 * https). Next.js takes the nonce from the request's CSP header and applies it to the scripts it
 * renders.
 */
export function proxy(request: NextRequest): NextResponse {
  const headers = buildSecurityHeaders(createNonce());
  const csp = headers['content-security-policy'];
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set('content-security-policy', csp);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

export const config = {
  // Static assets need no CSP; prefetches are not rendered documents. /favicon.ico is a page here
  // (there is no icon: the not-found page answers it), so it gets the proxy. The hot route handlers
  // (sign-in, /api/me, the API, the JWKS) render no HTML and set the same headers themselves
  // (lib/response-security.ts withSecurityHeaders): a proxy pass costs each of them about as much
  // as the handler itself.
  matcher: [
    {
      source:
        '/((?!_next/static|_next/image|(?:auth/(?:login|callback)|api/(?:me|messages)|\\.well-known/jwks\\.json)$).*)',
      missing: [
        { type: 'header', key: 'next-router-prefetch' },
        { type: 'header', key: 'purpose', value: 'prefetch' },
      ],
    },
  ],
};
