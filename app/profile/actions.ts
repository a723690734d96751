'use server';

import { recordRefreshFlow } from '@/lib/flow-inspector';
import { callMessagesApiAsUser, type UserApiCallOutcome } from '@/lib/user-api-call';

export type UserCallRun = { readonly at: number; readonly outcome: UserApiCallOutcome };

/**
 * The `/profile` button: a server action, so the user's access token is read (and refreshed when
 * needed) and sent to the API on the server; only its decoded claims come back to the page.
 */
export async function runUserApiCall(_previous: UserCallRun | undefined): Promise<UserCallRun> {
  const outcome = await callMessagesApiAsUser();
  // A refresh made by this call can be inspected on /inspector.
  await recordRefreshFlow(outcome);
  return { at: Date.now(), outcome };
}
