import { answerMessagesRequest } from '@/lib/messages-api';
import { otherMethodsThanGet } from '@/lib/route-methods';
import { withSecurityHeaders } from '@/lib/response-security';

export const dynamic = 'force-dynamic';

/**
 * `GET /api/messages` — the protected API, acting as a resource server. Accepts a JWT access token
 * for this API (RFC 9068) with its scope, as `Authorization: Bearer <token>` (RFC 6750) or, bound
 * to a key, as `Authorization: DPoP <token>` with a `DPoP` proof (RFC 9449 §7); answers
 * 400/401/403 with a `WWW-Authenticate` challenge otherwise, 503 when the provider's keys cannot
 * be fetched. See lib/messages-api.ts and lib/resource-server.ts.
 */
async function answerMessages(request: Request) {
  return answerMessagesRequest(request);
}

/** `HEAD /api/messages`: the same decision without a body (RFC 9110 §9.3.2). */
async function answerMessagesHead(request: Request) {
  const answer = await answerMessagesRequest(request);
  return new Response(null, { status: answer.status, headers: answer.headers });
}

export const GET = withSecurityHeaders(answerMessages);
export const HEAD = withSecurityHeaders(answerMessagesHead);

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, POST, PUT, DELETE, PATCH } = otherMethodsThanGet();
