import { answerMessageRequest } from '@/lib/messages-api';
import { otherMethodsThanGet } from '@/lib/route-methods';

export const dynamic = 'force-dynamic';

/**
 * `GET /api/messages/{id}` — one message of the protected API, under the same rules as
 * `GET /api/messages` (lib/messages-api.ts, lib/resource-server.ts).
 */
export async function GET(request: Request, context: { params: Promise<{ id: string }> }) {
  return answerMessageRequest(request, (await context.params).id);
}

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, POST, PUT, DELETE, PATCH } = otherMethodsThanGet();
