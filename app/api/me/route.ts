import { cookies } from 'next/headers';

import { userClaims } from '@/lib/dal';
import { withSecurityHeaders } from '@/lib/response-security';
import { sessionCookieName } from '@/lib/cookie-names';
import { isSessionUnavailable, readSessionState } from '@/lib/session';
import { shouldAnswerUnavailable } from '@/lib/store-health';
import { jsonSessionUnavailable } from '@/lib/unavailable-page';
import { NO_STORE_NO_TRANSFORM } from '@/lib/cache-control';
import { otherMethodsThanGet } from '@/lib/route-methods';

export const dynamic = 'force-dynamic';

/**
 * `GET /api/me` — the signed-in user's claims as JSON; 401 when signed out (with
 * `session_expired` when the provider ended the session); 503 when the session store is
 * unreachable.
 */
async function readMe() {
  // During a known store outage, 503 at once without trying the store, as proxy.ts does for the
  // pages (this route is left out of the proxy: lib/response-security.ts).
  if ((await cookies()).has(sessionCookieName()) && shouldAnswerUnavailable())
    return jsonSessionUnavailable();
  const headers = { 'cache-control': NO_STORE_NO_TRANSFORM };
  let current: Awaited<ReturnType<typeof readSessionState>>;
  try {
    current = await readSessionState();
  } catch (err) {
    if (isSessionUnavailable(err)) return jsonSessionUnavailable();
    throw err;
  }
  if (current.state !== 'active') {
    return Response.json(
      current.state === 'ended'
        ? { error: 'session_expired', error_description: 'the session has ended; sign in again' }
        : { error: 'unauthenticated', error_description: 'sign in at /auth/login' },
      { status: 401, headers },
    );
  }
  return Response.json(userClaims(current.record.user), { headers });
}

export const GET = withSecurityHeaders(readMe);

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, POST, PUT, DELETE, PATCH } = otherMethodsThanGet();
