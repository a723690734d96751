import { userClaims } from '@/lib/dal';
import { readSession } from '@/lib/session';
import { withSecurityHeaders } from '@/lib/response-security';

export const dynamic = 'force-dynamic';

/** `GET /api/me` — the signed-in user's claims as JSON; 401 when signed out. */
async function readMe() {
  const session = await readSession();
  const headers = { 'cache-control': 'no-store' };
  if (!session) {
    return Response.json(
      { error: 'unauthenticated', error_description: 'sign in at /auth/login' },
      { status: 401, headers },
    );
  }
  return Response.json(userClaims(session), { headers });
}

export const GET = withSecurityHeaders(readMe);
