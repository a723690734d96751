import { NextResponse, type NextRequest } from 'next/server';

import { getConfig } from './lib/config';
import { sessionCookieName } from './lib/cookie-names';
import { getDiscoveredMetadata } from './lib/discovery';
import { buildContentSecurityPolicy, createNonce } from './lib/security-headers';
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
 * Runs before every page and route: a nonce-based Content-Security-Policy, fresh per request.
 * Next.js takes the nonce from the request's CSP header and applies it to the scripts it renders.
 */
export function proxy(request: NextRequest): NextResponse {
  const settings = getConfig();
  const unavailable = answerWhileStoreDown(request, settings.secureCookies);
  if (unavailable) return unavailable;
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

/**
 * While the session store is known to be unreachable, a request that carries a session cookie to
 * a route that reads the session gets its 503 here at once, instead of waiting for the store to
 * fail again (lib/store-health.ts).
 */
function answerWhileStoreDown(request: NextRequest, secure: boolean): NextResponse | undefined {
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
  return NextResponse.rewrite(target);
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
