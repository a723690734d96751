import type { NextRequest } from 'next/server';

import { getConfig } from '@/lib/config';
import { describeError, log } from '@/lib/log';
import { buildLogoutUrl } from '@/lib/sign-in';
import { destroySession, isSessionUnavailable } from '@/lib/session';
import { redirectSeeOther } from '@/lib/sign-in-failure';
import { revokeRefreshToken } from '@/lib/token-refresh';
import { renderSessionUnavailable } from '@/lib/unavailable-page';
import { isCrossOriginRequest } from '@/lib/request-origin';
import { otherMethodsThanPost } from '@/lib/route-methods';

export const dynamic = 'force-dynamic';

/**
 * `POST /auth/logout` — ends the session here (its record is deleted from the session store, so
 * the cookie, replayed, finds nothing), revokes its refresh token at the provider (RFC 7009, with
 * a freshly signed client assertion) when the provider has a revocation endpoint, then sends the
 * browser to the provider's logout (RP-initiated logout with `id_token_hint` and
 * `post_logout_redirect_uri`) when it has an end_session_endpoint.
 * A POST, not a GET: a link or an image elsewhere must not end sessions here and at the provider.
 */
export async function POST(request: NextRequest) {
  const settings = getConfig();
  // MUST: only this app's own pages may sign users out: a form on another site (or a sandboxed
  // one: Origin "null"), or one whose Origin was stripped but whose Sec-Fetch-Site says
  // cross-site, is refused (lib/request-origin.ts). proxy.ts refuses such a POST first; the route
  // checks again itself, so that sign-out never depends on the proxy running (its matcher, or a
  // way around middleware such as CVE-2025-29927's header).
  if (isCrossOriginRequest(request.headers, settings.appUrl)) {
    return Response.json(
      { error: 'forbidden', error_description: 'cross-origin logout refused' },
      { status: 403 },
    );
  }
  let session: Awaited<ReturnType<typeof destroySession>>;
  try {
    session = await destroySession();
  } catch (err) {
    // The session could not be deleted: say so and keep the cookie, so that signing out can be
    // retried and really ends the session (clearing only the cookie would leave it replayable).
    if (isSessionUnavailable(err)) return renderSessionUnavailable('/');
    throw err;
  }
  let target: URL = new URL('/', settings.appUrl);
  if (session) {
    // MUST: the refresh token dies with the session, not only the cookie (RFC 7009 §2).
    if (session.tokens.refresh_token)
      await revokeRefreshToken(session.tokens.refresh_token, session.sub);
    try {
      target = (await buildLogoutUrl(session.user.id_token)) ?? target;
    } catch (err) {
      log.warn('provider logout skipped', { reason: describeError(err) });
    }
  }
  log.info('signed out', { sub: session?.sub });
  return redirectSeeOther(target);
}

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, GET, PUT, DELETE, PATCH } = otherMethodsThanPost();
