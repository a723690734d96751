import type { NextRequest } from 'next/server';

import { getConfig } from '@/lib/config';
import { AuthError } from '@/lib/errors';
import { log } from '@/lib/log';
import { completeSignIn, prepareCodeRedemption, type SignInResult } from '@/lib/sign-in';
import { sanitizeReturnTo } from '@/lib/return-to';
import {
  beginSessionReplacement,
  countPendingTransactions,
  forgetTransaction,
  isSessionUnavailable,
  beginNewSession,
  readTransaction,
  type SessionReplacement,
} from '@/lib/session';
import { beginSignInFlowCapture } from '@/lib/flow-inspector';
import { failSignIn, redirectSeeOther } from '@/lib/sign-in-failure';
import { revokeRefreshToken } from '@/lib/token-refresh';
import { claimTransaction, releaseTransaction, type Transaction } from '@/lib/transaction';
import { renderSessionUnavailable } from '@/lib/unavailable-page';
import { withSecurityHeaders } from '@/lib/response-security';
import { otherMethodsThanGet } from '@/lib/route-methods';

export const dynamic = 'force-dynamic';

const SESSION_MAY_HAVE_ENDED_HINT =
  'The session store (Redis) stopped answering while this sign-in was ending your earlier ' +
  'session here, so that session may have ended. Nothing was redeemed: load this page again in ' +
  'a moment to finish signing in.';

const SIGN_IN_LOST_HINT =
  'The app lost its session store (Redis) while completing this sign-in, so it could not be ' +
  'kept, and you are signed out. Sign in again in a moment.';

/**
 * `GET /auth/callback` — the redirect URI. Finds this browser's transaction for the response's
 * `state` (one per sign-in in flight), checks the authorization response against it, redeems the
 * code with a fresh client assertion, validates the ID token, and only then creates the session.
 *
 * While the session store is unreachable, the callback of a sign-in in flight answers 503 (the page
 * of `/auth/unavailable`), as every route that needs a session does: not an error page, and never
 * half a sign-in.
 */
async function completeCallback(request: NextRequest) {
  const callbackStart = performance.now();
  const callbackAt = Date.now();
  const settings = getConfig();
  let transaction: Transaction | undefined;
  let result: SignInResult | undefined;
  let replacement: SessionReplacement | undefined;
  try {
    const params = request.nextUrl.searchParams;
    const states = params.getAll('state');
    // Only one `state` may be looked up (RFC 6749 §3.1: no repeated parameter).
    const state = states.length === 1 ? states[0] : undefined;
    // The store check begins now, beside the opening of the transaction cookie; it changes
    // nothing until completed below.
    replacement = beginSessionReplacement();
    const found = state === undefined ? undefined : await readTransaction(state);
    if (!found) {
      // MUST NOT end an existing session: a response that matches no sign-in of this browser (a
      // link to this route, a replayed or stale callback, another tab's late one) is refused
      // without touching it, or any link could sign users out here.
      const pending = await countPendingTransactions();
      // An unreadable or expired transaction of this state is gone too.
      if (state !== undefined) await forgetTransaction(state);
      throw pending > 0
        ? new AuthError('state_mismatch', {
            detail:
              state !== undefined
                ? 'state matches no sign-in of this browser'
                : `state is ${states.length === 0 ? 'missing' : 'repeated'}`,
          })
        : new AuthError('missing_transaction');
    }
    // MUST: one callback per transaction: a second request for it that arrives before the first
    // has answered (a reload while it is pending) still carries the cookie, and would redeem the
    // code again (RFC 6749 §4.1.2). It is refused before it changes anything.
    if (!claimTransaction(found)) {
      throw new AuthError('missing_transaction', {
        detail: 'this sign-in is already being completed by another request for its callback',
      });
    }
    // The inspector's record begins now (the PKCE challenge it shows is a digest), beside the store
    // round trips and the code's redemption; it is completed once the sign-in is, or never.
    const capture = beginSignInFlowCapture(found);
    // The client assertion that redeems the code is signed now, while the store answers below; it
    // is sent only if the code is redeemed.
    const redemption = prepareCodeRedemption();
    // MUST: a callback of a sign-in this browser started ends either with the new session or with
    // none. Any earlier session goes now, so a failed sign-in never leaves one behind.
    // MUST: no code is redeemed unless its session can be kept. With the store unreachable this
    // answers 503 here, before the transaction is consumed: the code is not spent, no tokens are
    // issued, this browser's session and transaction stay as they were, and loading this page
    // again once the store is back completes the sign-in.
    try {
      await replacement.complete();
    } catch (err) {
      // Nothing was consumed: loading the page again may complete the sign-in.
      releaseTransaction(found);
      throw err;
    }
    // The transaction is single-use: deleted whatever happens next.
    await forgetTransaction(found.state);
    transaction = found;
    // The new session's id and cookie seal begin now, while the code is redeemed (not before the
    // store's round trips above, whose answers it would hold up); kept only if the sign-in
    // completes.
    const newSession = beginNewSession();

    result = await completeSignIn(params, transaction, redemption);
    // The inspector's record goes into the store with the session, in the same write.
    const flow = await capture.complete({
      callbackParams: params,
      result,
      callbackStart,
      callbackAt,
    });
    const session = await newSession.save(result, flow);
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
    if (!isSessionUnavailable(err)) return failSignIn(err, 'callback');
    log.warn('sign-in deferred: the session store is unreachable', {
      code_redeemed: result !== undefined,
    });
    // The store failed between the check and the session (it went down meanwhile): the tokens
    // just issued have nowhere to live. MUST: their refresh token dies here (RFC 7009), so no
    // grant outlives the sign-in that could not be kept.
    if (result?.refresh_token) await revokeRefreshToken(result.refresh_token, result.claims.sub);
    // Once the transaction was taken, this browser's earlier session is ended and its cookie
    // cleared: the usual "nobody was signed out" would not be true.
    // MUST: the page tells what happened to the earlier session. "Nobody was signed out" only
    // when nothing was changed, or could still be.
    const hint =
      transaction !== undefined
        ? SIGN_IN_LOST_HINT
        : replacement?.sessionMayHaveEnded()
          ? SESSION_MAY_HAVE_ENDED_HINT
          : undefined;
    return renderSessionUnavailable(
      sanitizeReturnTo(transaction?.returnTo, settings.appUrl),
      hint === undefined ? {} : { hint },
    );
  }
}

export const GET = withSecurityHeaders(completeCallback);

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, POST, PUT, DELETE, PATCH } = otherMethodsThanGet();
