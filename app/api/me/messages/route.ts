import { recordRefreshFlow } from '@/lib/flow-inspector';
import { otherMethodsThanGet } from '@/lib/route-methods';
import { callMessagesApiAsUser } from '@/lib/user-api-call';
import { NO_STORE_NO_TRANSFORM } from '@/lib/cache-control';

export const dynamic = 'force-dynamic';

/**
 * `GET /api/me/messages` — the protected API called as the signed-in user: the server sends
 * `GET /api/messages` with the user's access token (from the server-side session, refreshed when
 * it expires within 30 s) and answers with the API's answer, status included. The token itself
 * never reaches the browser. `X-Token-Source` says whether this call refreshed (`refreshed`) or
 * used the stored token (`store`, `shared`, `other_instance`).
 *
 * Without a session 401; when the provider ended the session 401 `session_expired`; when the
 * provider or the session store cannot be reached 503 (the session is kept).
 */
export async function GET() {
  const outcome = await callMessagesApiAsUser();
  await recordRefreshFlow(outcome);
  const headers: Record<string, string> = { 'cache-control': NO_STORE_NO_TRANSFORM };
  if (!outcome.ok) {
    if (outcome.status === 503) headers['retry-after'] = '5';
    return Response.json(
      {
        error: outcome.code === 'not_signed_in' ? 'unauthenticated' : outcome.code,
        error_description: outcome.hint,
      },
      { status: outcome.status, headers },
    );
  }
  headers['x-token-source'] = outcome.token.source;
  return typeof outcome.api.body === 'string'
    ? new Response(outcome.api.body, { status: outcome.api.status, headers })
    : Response.json(outcome.api.body, { status: outcome.api.status, headers });
}

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, POST, PUT, DELETE, PATCH } = otherMethodsThanGet();
