import type { NextRequest } from 'next/server';

import { getConfig } from '@/lib/config';
import { startPreparedSignIn } from '@/lib/prepared-sign-in';
import { sanitizeReturnTo } from '@/lib/return-to';
import { storeTransaction } from '@/lib/session';
import { failSignIn, redirectSeeOther } from '@/lib/sign-in-failure';
import { withSecurityHeaders } from '@/lib/response-security';
import { otherMethodsThanGet } from '@/lib/route-methods';

export const dynamic = 'force-dynamic';

/**
 * `GET /auth/login?returnTo=/path` — starts the authorization-code flow with PKCE, state and nonce,
 * kept in a sealed transaction cookie, and sends the browser to the provider. The transaction is
 * made ahead, between requests (lib/prepared-sign-in.ts).
 */
async function startLogin(request: NextRequest) {
  try {
    const returnTo = sanitizeReturnTo(
      request.nextUrl.searchParams.get('returnTo'),
      getConfig().appUrl,
    );
    const { url, transaction, sealed } = await startPreparedSignIn(returnTo);
    await storeTransaction(transaction, sealed);
    return redirectSeeOther(url);
  } catch (err) {
    return failSignIn(err, 'login');
  }
}

export const GET = withSecurityHeaders(startLogin);

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, POST, PUT, DELETE, PATCH } = otherMethodsThanGet();
