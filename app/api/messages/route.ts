import { answerMessagesRequest } from '@/lib/messages-api';

export const dynamic = 'force-dynamic';

/**
 * `GET /api/messages` — the protected API, acting as a resource server. Accepts only
 * `Authorization: Bearer <JWT access token>` for this API (RFC 9068) with its scope; answers
 * 400/401/403 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3) otherwise, 503 when the
 * provider's keys cannot be fetched. See lib/messages-api.ts and lib/resource-server.ts.
 */
export async function GET(request: Request) {
  return answerMessagesRequest(request);
}
