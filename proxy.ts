import { NextResponse, type NextRequest } from 'next/server';

import { getConfig } from './lib/config';
import { getDiscoveredMetadata } from './lib/discovery';
import {
  buildContentSecurityPolicy,
  createNonce,
  STRICT_TRANSPORT_SECURITY,
} from './lib/security-headers';

/** The origin of the provider's end_session_endpoint, if it is an http(s) URL at all. */
function endSessionOrigin(endpoint: string | undefined): string[] {
  if (!endpoint || !URL.canParse(endpoint)) return [];
  const url = new URL(endpoint);
  return url.protocol === 'https:' || url.protocol === 'http:' ? [url.origin] : [];
}

/**
 * Runs before every page and route, prefetches included: a nonce-based Content-Security-Policy,
 * fresh per request, and HSTS when APP_URL is https. Next.js takes the nonce from the request's
 * CSP header and applies it to the scripts it renders.
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
  // MUST (https only): browsers remember to never try plain http here again. Set here from the
  // run-time APP_URL; next.config.js adds it to every response (static files too) when the build
  // already knew that APP_URL is https.
  if (settings.secureCookies)
    response.headers.set('strict-transport-security', STRICT_TRANSPORT_SECURITY);
  return response;
}

export const config = {
  // Static assets need no CSP. Prefetches are NOT left out (as Next.js's CSP example does): a
  // browser's prefetch (`Purpose: prefetch`, `Sec-Purpose: prefetch`) fetches the very HTML
  // document it will show, which needs a policy with the nonce of its own scripts, and the
  // router's RSC prefetches (`Next-Router-Prefetch`) need HSTS like every https response.
  matcher: ['/((?!_next/static|_next/image|favicon.ico).*)'],
};
