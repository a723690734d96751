import 'server-only';

import { getConfig } from './config';
import { getProvider } from './discovery';
import { captureClientCredentials, captureRefresh, captureSignIn } from './flow-capture';
import { storeFlowRecord, toSessionAttachments } from './flow-store';
import type { MachineCallOutcome } from './machine-call';
import { readSession } from './session';
import type { SessionAttachments } from './session-store';
import { buildAuthorizationParameters, type SignInResult } from './sign-in';
import type { Transaction } from './transaction';
import type { UserApiCallOutcome } from './user-api-call';

/**
 * The flow inspector's entry points for the routes: record a completed sign-in, a refresh of the
 * user's API token, a client-credentials token request made by a signed-in user. Recording never fails a flow: a
 * record that cannot be made is simply not kept.
 */

/** What the callback knows once the code is redeemed: the rest of a sign-in's record. */
export type SignInFlowOutcome = {
  readonly callbackParams: URLSearchParams;
  readonly result: SignInResult;
  /** `performance.now()` and `Date.now()` when the callback began. */
  readonly callbackStart: number;
  readonly callbackAt: number;
};

/** A sign-in's inspector record, begun by {@link beginSignInFlowCapture}. */
export type SignInFlowCapture = {
  /**
   * The inspector's record of the completed sign-in, as attachments of the session about to be
   * saved (`saveSession`), so that it is stored in the same write. Undefined when it cannot be
   * made; never throws.
   */
  readonly complete: (outcome: SignInFlowOutcome) => Promise<SessionAttachments | undefined>;
};

/**
 * Begins the inspector's record of a sign-in as soon as the callback has found its transaction:
 * the authorization request's parameters it shows (the PKCE challenge is a SHA-256 digest, done
 * off the main thread by WebCrypto) are worked out while the code is redeemed, not after it.
 * The same pattern as `beginSessionReplacement` (./session.ts): begun at once, completed later,
 * and a capture never completed (the sign-in was refused) leaves nothing behind.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowSteps
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2 (S256)
 */
export function beginSignInFlowCapture(transaction: Transaction): SignInFlowCapture {
  // Settled into a value now, not left rejected: a sign-in refused before complete() must not
  // leave a rejected promise nobody awaits (an unhandled rejection), and a failure here is no
  // sign-in failure anyway.
  const authorizationParams = buildAuthorizationParameters(transaction).then(
    (params) => ({ params }),
    () => undefined,
  );
  return {
    async complete(outcome) {
      try {
        const prepared = await authorizationParams;
        if (!prepared) return undefined;
        const { metadata } = await getProvider();
        return toSessionAttachments(
          captureSignIn({
            ...outcome,
            transaction,
            authorizationParams: prepared.params,
            settings: getConfig(),
            metadata,
          }),
        );
      } catch {
        // MUST: the inspector is a view; its failure is no sign-in failure, and nothing of it is
        // logged.
        return undefined;
      }
    },
  };
}

/** Keeps the record of a client-credentials token request, when a user is signed in. */
export async function recordClientCredentialsFlow(outcome: MachineCallOutcome): Promise<void> {
  try {
    const session = await readSession();
    if (!session) return;
    const { metadata } = await getProvider();
    const record = captureClientCredentials(outcome, session.sub, getConfig(), metadata);
    if (record) await storeFlowRecord(record);
  } catch {
    // As above: never a failure of the call itself.
  }
}

/** Keeps the record of the refresh grant behind a call of the API as the user, when it refreshed. */
export async function recordRefreshFlow(outcome: UserApiCallOutcome): Promise<void> {
  try {
    if (!outcome.ok || outcome.token.source !== 'refreshed') return;
    const session = await readSession();
    if (!session) return;
    const { metadata } = await getProvider();
    const record = captureRefresh(outcome, session.sub, getConfig(), metadata);
    if (record) await storeFlowRecord(record);
  } catch {
    // As above: never a failure of the call itself.
  }
}
