import type { NextRequest } from 'next/server';

import { getConfig } from '@/lib/config';
import { AuthError } from '@/lib/errors';
import { log } from '@/lib/log';
import { completeSignIn } from '@/lib/sign-in';
import { sanitizeReturnTo } from '@/lib/return-to';
import { destroySession, saveSession, takeTransaction } from '@/lib/session';
import { recordSignInFlow } from '@/lib/flow-inspector';
import { failSignIn, redirectSeeOther } from '@/lib/sign-in-failure';
import { withSecurityHeaders } from '@/lib/response-security';

export const dynamic = 'force-dynamic';

/**
 * `GET /auth/callback` — the redirect URI. Checks the authorization response against this
 * browser's transaction, redeems the code with a fresh client assertion, validates the ID token,
 * and only then creates the session.
 */
async function completeCallback(request: NextRequest) {
  const callbackStart = performance.now();
  const callbackAt = Date.now();
  try {
    // The transaction is single-use: read and deleted whatever happens next.
    const transaction = await takeTransaction();
    // MUST: a callback either ends with the new session or with none. Any earlier session goes
    // now, so a failed sign-in never leaves one behind. The price: a link to this route can end a
    // local session (not the provider's). That is accepted: a sign-in response this browser did
    // not ask for means an attack may be under way (code injection, mix-up), and ending the
    // session then fails safe.
    await destroySession();
    if (!transaction) throw new AuthError('missing_transaction');

    const result = await completeSignIn(request.nextUrl.searchParams, transaction);
    const settings = getConfig();
    const session = await saveSession(result);
    await recordSignInFlow({
      transaction,
      callbackParams: request.nextUrl.searchParams,
      result,
      callbackStart,
      callbackAt,
    });
    log.info('sign-in completed', {
      sub: result.claims.sub,
      sid: session.sid !== undefined,
      refresh_token: result.refresh_token !== undefined,
      back_channel_requests: result.trace.requests.length,
    });
    // The stored returnTo was sanitised at /auth/login; checked again here, where it is used.
    return redirectSeeOther(
      new URL(sanitizeReturnTo(transaction.returnTo, settings.appUrl), settings.appUrl),
    );
  } catch (err) {
    return failSignIn(err, 'callback');
  }
}

export const GET = withSecurityHeaders(completeCallback);
