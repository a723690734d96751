import type { NextRequest } from 'next/server';

import { getConfig } from '@/lib/config';
import { AuthError } from '@/lib/errors';
import { log } from '@/lib/log';
import { completeSignIn, type SignInResult } from '@/lib/sign-in';
import { sanitizeReturnTo } from '@/lib/return-to';
import { checkSessionStore, destroySession, saveSession, takeTransaction } from '@/lib/session';
import { recordSignInFlow } from '@/lib/flow-inspector';
import { failSignIn, redirectSeeOther } from '@/lib/sign-in-failure';
import { revokeRefreshToken } from '@/lib/token-refresh';
import type { Transaction } from '@/lib/transaction';
import { renderSessionUnavailable } from '@/lib/unavailable-page';
import { withSecurityHeaders } from '@/lib/response-security';

export const dynamic = 'force-dynamic';

function isStoreUnavailable(err: unknown): boolean {
  return err instanceof AuthError && err.code === 'session_store_unavailable';
}

/**
 * `GET /auth/callback` — the redirect URI. Checks the authorization response against this
 * browser's transaction, redeems the code with a fresh client assertion, validates the ID token,
 * and only then creates the session.
 *
 * While the session store is unreachable it answers 503 (the page of `/auth/unavailable`), as
 * every route that needs a session does: not an error page, and never half a sign-in.
 */
async function completeCallback(request: NextRequest) {
  const callbackStart = performance.now();
  const callbackAt = Date.now();
  const settings = getConfig();
  let transaction: Transaction | undefined;
  let result: SignInResult | undefined;
  try {
    // MUST: no code is redeemed unless its session can be kept. With the store unreachable, this
    // answers 503 before touching anything: the code is not spent, no tokens are issued, this
    // browser's session and transaction stay as they were, and loading this page again once the
    // store is back completes the sign-in.
    await checkSessionStore();
    // MUST: a callback either ends with the new session or with none. Any earlier session goes
    // now, so a failed sign-in never leaves one behind. The price: a link to this route can end a
    // local session (not the provider's). That is accepted: a sign-in response this browser did
    // not ask for means an attack may be under way (code injection, mix-up), and ending the
    // session then fails safe. (Done before the transaction is taken: if the store fails here,
    // nothing was consumed either.)
    await destroySession();
    // The transaction is single-use: read and deleted whatever happens next.
    transaction = await takeTransaction();
    if (!transaction) throw new AuthError('missing_transaction');

    result = await completeSignIn(request.nextUrl.searchParams, transaction);
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
    if (!isStoreUnavailable(err)) return failSignIn(err, 'callback');
    log.warn('sign-in deferred: the session store is unreachable', {
      code_redeemed: result !== undefined,
    });
    // The store failed between the check and the session (it went down meanwhile): the tokens
    // just issued have nowhere to live. MUST: their refresh token dies here (RFC 7009), so no
    // grant outlives the sign-in that could not be kept.
    if (result?.refresh_token) await revokeRefreshToken(result.refresh_token, result.claims.sub);
    return renderSessionUnavailable(sanitizeReturnTo(transaction?.returnTo, settings.appUrl));
  }
}

export const GET = withSecurityHeaders(completeCallback);
