import { NextResponse, type NextRequest } from 'next/server';

import { getConfig } from './lib/config';
import { sessionCookieName } from './lib/cookie-names';
import { getDiscoveredMetadata } from './lib/discovery';
import {
  buildContentSecurityPolicy,
  createNonce,
  STRICT_TRANSPORT_SECURITY,
} from './lib/security-headers';
import { shouldAnswerUnavailable } from './lib/store-health';

/** Pages and routes that read the session (with a session cookie, they need the store). */
const SESSION_PAGES = new Set(['/', '/profile']);
const SESSION_APIS = new Set(['/api/me', '/api/me/messages']);

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
  const response =
    answerWhileStoreDown(request, requestHeaders, settings.secureCookies) ??
    NextResponse.next({ request: { headers: requestHeaders } });
  response.headers.set('content-security-policy', csp);
  // MUST (https only): browsers remember to never try plain http here again. Set here from the
  // run-time APP_URL on every answer, early ones included; next.config.js adds it to every
  // response (static files too) when the build already knew that APP_URL is https.
  if (settings.secureCookies)
    response.headers.set('strict-transport-security', STRICT_TRANSPORT_SECURITY);
  return response;
}

/**
 * While the session store is known to be unreachable, a request that carries a session cookie to
 * a route that reads the session gets its 503 here at once, instead of waiting for the store to
 * fail again (lib/store-health.ts).
 */
function answerWhileStoreDown(
  request: NextRequest,
  requestHeaders: Headers,
  secure: boolean,
): NextResponse | undefined {
  const path = request.nextUrl.pathname;
  if (!SESSION_PAGES.has(path) && !SESSION_APIS.has(path)) return undefined;
  if (!request.cookies.has(sessionCookieName(secure))) return undefined;
  if (!shouldAnswerUnavailable()) return undefined;
  if (SESSION_APIS.has(path)) {
    return NextResponse.json(
      {
        error: 'temporarily_unavailable',
        error_description:
          'The session store cannot be reached; nobody was signed out. Retry shortly.',
      },
      { status: 503, headers: { 'cache-control': 'no-store', 'retry-after': '5' } },
    );
  }
  const target = new URL('/auth/unavailable', request.nextUrl);
  target.searchParams.set('returnTo', path);
  // The page rendered instead gets the nonce of this response's policy.
  return NextResponse.rewrite(target, { request: { headers: requestHeaders } });
}

export const config = {
  // Static assets need no CSP. Prefetches are NOT left out (as Next.js's CSP example does): a
  // browser's prefetch (`Purpose: prefetch`, `Sec-Purpose: prefetch`) fetches the very HTML
  // document it will show, which needs a policy with the nonce of its own scripts, and the
  // router's RSC prefetches (`Next-Router-Prefetch`) need HSTS like every https response.
  matcher: ['/((?!_next/static|_next/image|favicon.ico).*)'],
};
