import type { NextRequest } from 'next/server';

import { getConfig } from '@/lib/config';
import { sanitizeReturnTo } from '@/lib/return-to';
import { renderSessionUnavailable } from '@/lib/unavailable-page';
import { otherMethodsThanGet } from '@/lib/route-methods';

export const dynamic = 'force-dynamic';

/**
 * `GET /auth/unavailable?returnTo=/path` — 503: the session store cannot be reached. Pages that
 * need the session send the browser here (a page cannot answer 503 itself); `proxy.ts` answers
 * with it directly while an outage is known.
 */
export function GET(request: NextRequest) {
  return renderSessionUnavailable(
    sanitizeReturnTo(request.nextUrl.searchParams.get('returnTo'), getConfig().appUrl),
  );
}

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, POST, PUT, DELETE, PATCH } = otherMethodsThanGet();
