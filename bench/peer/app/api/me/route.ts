import { auth0 } from '../../../lib/auth0';

export const dynamic = 'force-dynamic';

/** `GET /api/me` — the signed-in user's claims; 401 when signed out (as the app's route). */
export async function GET() {
  const session = await auth0.getSession();
  const headers = { 'cache-control': 'no-store' };
  if (!session) return Response.json({ error: 'unauthenticated' }, { status: 401, headers });
  return Response.json(session.user, { headers });
}
