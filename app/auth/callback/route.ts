import type { NextRequest } from 'next/server';

import { getConfig } from '@/lib/config';
import { AuthError } from '@/lib/errors';
import { log } from '@/lib/log';
import { completeSignIn } from '@/lib/sign-in';
import { sanitizeReturnTo } from '@/lib/return-to';
import {
  countPendingTransactions,
  destroySession,
  saveSession,
  takeTransaction,
} from '@/lib/session';
import { recordSignInFlow } from '@/lib/flow-inspector';
import { failSignIn, redirectSeeOther } from '@/lib/sign-in-failure';

export const dynamic = 'force-dynamic';

/**
 * `GET /auth/callback` — the redirect URI. Finds this browser's transaction for the response's
 * `state` (one per sign-in in flight), checks the authorization response against it, redeems the
 * code with a fresh client assertion, validates the ID token, and only then creates the session.
 */
export async function GET(request: NextRequest) {
  const callbackStart = performance.now();
  const callbackAt = Date.now();
  try {
    const params = request.nextUrl.searchParams;
    const states = params.getAll('state');
    // Counted before the lookup below deletes the matching cookie.
    const pending = await countPendingTransactions();
    // This browser's transaction for the response's `state`: single-use, deleted whatever happens
    // next. Only one `state` may be looked up (RFC 6749 §3.1: no repeated parameter).
    const transaction = states.length === 1 ? await takeTransaction(states[0] ?? '') : undefined;
    if (!transaction) {
      // MUST NOT end an existing session: a response that matches no sign-in of this browser (a
      // link to this route, a replayed or stale callback, another tab's late one) is refused
      // without touching it, or any link could sign users out here.
      throw pending > 0
        ? new AuthError('state_mismatch', {
            detail:
              states.length === 1
                ? 'state matches no sign-in of this browser'
                : `state is ${states.length === 0 ? 'missing' : 'repeated'}`,
          })
        : new AuthError('missing_transaction');
    }
    // MUST: a callback of a sign-in this browser started ends either with the new session or with
    // none. Any earlier session goes now, so a failed sign-in never leaves one behind.
    await destroySession();

    const result = await completeSignIn(params, transaction);
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
