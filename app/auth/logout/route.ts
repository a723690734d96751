import type { NextRequest } from 'next/server';

import { getConfig } from '@/lib/config';
import { clearFlowRecords } from '@/lib/flow-store';
import { describeError, log } from '@/lib/log';
import { buildLogoutUrl } from '@/lib/sign-in';
import { destroySession, readSession } from '@/lib/session';
import { redirectSeeOther } from '@/lib/sign-in-failure';

export const dynamic = 'force-dynamic';

/**
 * `POST /auth/logout` — ends the session here, then at the provider (RP-initiated logout with
 * `id_token_hint` and `post_logout_redirect_uri`) when it has an end_session_endpoint.
 * A POST, not a GET: a link or an image elsewhere must not end sessions here and at the provider.
 */
export async function POST(request: NextRequest) {
  const settings = getConfig();
  const origin = request.headers.get('origin');
  // MUST: only this app's own pages may sign users out. Browsers send Origin with every POST, so
  // a form on another site (or a sandboxed one: "null") is refused; a request without Origin comes
  // from no browser, and no other page can make it on a user's behalf.
  if (origin !== null && origin !== settings.appUrl) {
    return Response.json(
      { error: 'forbidden', error_description: 'cross-origin logout refused' },
      { status: 403 },
    );
  }
  const session = await readSession();
  await destroySession();
  await clearFlowRecords();
  let target: URL = new URL('/', settings.appUrl);
  if (session) {
    try {
      target = (await buildLogoutUrl(session.id_token)) ?? target;
    } catch (err) {
      log.warn('provider logout skipped', { reason: describeError(err) });
    }
  }
  log.info('signed out', { sub: session?.sub });
  return redirectSeeOther(target);
}
