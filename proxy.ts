import { NextResponse, type NextRequest } from 'next/server';

import { getConfig } from './lib/config';
import { getDiscoveredMetadata } from './lib/discovery';
import { buildContentSecurityPolicy, createNonce } from './lib/security-headers';

/** The origin of the provider's end_session_endpoint, if it is an http(s) URL at all. */
function endSessionOrigin(endpoint: string | undefined): string[] {
  if (!endpoint || !URL.canParse(endpoint)) return [];
  const url = new URL(endpoint);
  return url.protocol === 'https:' || url.protocol === 'http:' ? [url.origin] : [];
}

/**
 * Runs before every page and route: a nonce-based Content-Security-Policy, fresh per request.
 * Next.js takes the nonce from the request's CSP header and applies it to the scripts it renders.
 */
export function proxy(request: NextRequest): NextResponse {
  const settings = getConfig();
  const csp = buildContentSecurityPolicy(createNonce(), {
    formActions: [
      new URL(settings.issuer).origin,
      ...endSessionOrigin(getDiscoveredMetadata()?.end_session_endpoint),
    ],
    https: settings.secureCookies,
    development: process.env.NODE_ENV === 'development',
  });
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set('content-security-policy', csp);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  response.headers.set('content-security-policy', csp);
  // MUST (https only): browsers remember to never try plain http here again.
  if (settings.secureCookies) response.headers.set('strict-transport-security', 'max-age=31536000');
  return response;
}

export const config = {
  // Static assets need no CSP; prefetches are not rendered documents.
  matcher: [
    {
      source: '/((?!_next/static|_next/image|favicon.ico).*)',
      missing: [
        { type: 'header', key: 'next-router-prefetch' },
        { type: 'header', key: 'purpose', value: 'prefetch' },
      ],
    },
  ],
};
