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

/**
 * The inspector's record of a completed sign-in, as attachments of the session about to be saved
 * (`saveSession`), so that it is stored in the same write. Undefined when it cannot be made.
 */
export async function captureSignInFlow(input: {
  readonly transaction: Transaction;
  readonly callbackParams: URLSearchParams;
  readonly result: SignInResult;
  readonly callbackStart: number;
  readonly callbackAt: number;
}): Promise<SessionAttachments | undefined> {
  try {
    const { metadata } = await getProvider();
    return toSessionAttachments(
      captureSignIn({
        ...input,
        authorizationParams: await buildAuthorizationParameters(input.transaction),
        settings: getConfig(),
        metadata,
      }),
    );
  } catch {
    // MUST: the inspector is a view; its failure is no sign-in failure, and nothing of it is logged.
    return undefined;
  }
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
