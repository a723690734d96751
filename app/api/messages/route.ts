import { answerMessagesRequest } from '@/lib/messages-api';
import { withSecurityHeaders } from '@/lib/response-security';

export const dynamic = 'force-dynamic';

/**
 * `GET /api/messages` — the protected API, acting as a resource server. Accepts only
 * `Authorization: Bearer <JWT access token>` for this API (RFC 9068) with its scope; answers
 * 400/401/403 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3) otherwise, 503 when the
 * provider's keys cannot be fetched. See lib/messages-api.ts and lib/resource-server.ts.
 */
async function answerMessages(request: Request) {
  return answerMessagesRequest(request);
}

export const GET = withSecurityHeaders(answerMessages);
