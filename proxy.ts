import { NextResponse, type NextRequest } from 'next/server';

import { getConfig } from './lib/config';
import { sessionCookieName } from './lib/cookie-names';
import { buildSecurityHeaders } from './lib/response-security';
import { createNonce } from './lib/security-headers';
import { shouldAnswerUnavailable } from './lib/store-health';
import { NO_STORE_NO_TRANSFORM } from './lib/cache-control';
import { isCrossOriginRequest } from './lib/request-origin';

/**
 * Pages and routes that read the session (with a session cookie, they need the store). `/api/me`
 * is left out of the matcher below and makes the same check itself (app/api/me/route.ts).
 */
const SESSION_PAGES = new Set(['/', '/profile']);
const SESSION_APIS = new Set(['/api/me', '/api/me/messages']);

/**
 * Runs before every page, prefetches included: a nonce-based Content-Security-Policy, fresh per
 * request, and HSTS when APP_URL is https. Next.js takes the nonce from the request's CSP header
 * and applies it to the scripts it renders. The early 503 answers get the same headers.
 */
export function proxy(request: NextRequest): NextResponse {
  const headers = buildSecurityHeaders(createNonce());
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set('content-security-policy', headers['content-security-policy']);
  const response =
    refuseBadRequest(request) ??
    answerWhileStoreDown(request, requestHeaders, getConfig().secureCookies) ??
    NextResponse.next({ request: { headers: requestHeaders } });
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

/** The one route a POST may reach from outside a browser page: the provider's, server to server. */
const BACK_CHANNEL_LOGOUT = '/auth/backchannel-logout';

/**
 * Requests refused before Next.js sees them, because Next.js would answer them with a 500:
 *
 * - a path that does not percent-decode to UTF-8 (`/api/messages/%ff`, `/%`, `/%E0%A4%A`):
 *   Next.js fails to decode a dynamic segment of it and answers 500. Such a path names nothing
 *   here (every path of this app is UTF-8, RFC 3986 §2.5): 400.
 * - a POST from another origin (a server action run from another site's form or script, or a
 *   sign-out): Next.js refuses a server action whose Origin is not its host, but with a 500. MUST:
 *   every POST a page can make here (server actions, /auth/logout) is held to this app's origin
 *   (lib/request-origin.ts); 403. The back-channel logout is POSTed by the provider, not a page.
 *
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-2.1 (percent-encoding)
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-2.5 (UTF-8 octets)
 */
function refuseBadRequest(request: NextRequest): NextResponse | undefined {
  const headers = { 'cache-control': NO_STORE_NO_TRANSFORM };
  try {
    decodeURIComponent(request.nextUrl.pathname);
  } catch {
    return NextResponse.json(
      { error: 'invalid_request', error_description: 'the path does not percent-decode to UTF-8' },
      { status: 400, headers },
    );
  }
  if (
    request.method === 'POST' &&
    request.nextUrl.pathname !== BACK_CHANNEL_LOGOUT &&
    isCrossOriginRequest(request.headers, getConfig().appUrl)
  ) {
    return NextResponse.json(
      { error: 'forbidden', error_description: 'cross-origin request refused' },
      { status: 403, headers },
    );
  }
  return undefined;
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
      { status: 503, headers: { 'cache-control': NO_STORE_NO_TRANSFORM, 'retry-after': '5' } },
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
  // /favicon.ico is a page here (there is no icon: the not-found page answers it), so it gets the
  // proxy. The hot route handlers (sign-in, /api/me, the API, the JWKS) render no HTML and set the
  // same headers themselves (lib/response-security.ts withSecurityHeaders): a proxy pass costs
  // each of them about as much as the handler itself.
  // An RSC request (`RSC: 1`, the router's prefetches) to one of those routes came back without
  // the handler's headers (e2e/security-posture.spec.ts), so those still go through the proxy.
  matcher: [
    '/((?!_next/static|_next/image|(?:auth/(?:login|callback)|api/(?:me|messages)|\\.well-known/jwks\\.json)$).*)',
    { source: '/auth/login', has: [{ type: 'header', key: 'rsc' }] },
    { source: '/auth/callback', has: [{ type: 'header', key: 'rsc' }] },
    { source: '/api/me', has: [{ type: 'header', key: 'rsc' }] },
    { source: '/api/messages', has: [{ type: 'header', key: 'rsc' }] },
    { source: '/.well-known/jwks.json', has: [{ type: 'header', key: 'rsc' }] },
  ],
};
