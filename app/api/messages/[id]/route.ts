import { answerMessageRequest } from '@/lib/messages-api';

export const dynamic = 'force-dynamic';

/**
 * `GET /api/messages/{id}` — one message of the protected API, under the same rules as
 * `GET /api/messages` (lib/messages-api.ts, lib/resource-server.ts).
 */
export async function GET(request: Request, context: { params: Promise<{ id: string }> }) {
  return answerMessageRequest(request, (await context.params).id);
}
