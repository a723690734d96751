'use server';

import { log } from '@/lib/log';
import { decideMachineAccess } from '@/lib/machine-access';
import { recordClientCredentialsFlow } from '@/lib/flow-inspector';
import { callApiWithClientCredentials, type MachineCallOutcome } from '@/lib/machine-call';
import { isSessionUnavailable, readSession } from '@/lib/session';

export type MachineRun =
  | { readonly at: number; readonly outcome: MachineCallOutcome }
  /** Refused before anything was asked of the provider: nobody is signed in, or who is cannot be known. */
  | { readonly at: number; readonly refused: 'sign_in_required' | 'session_store_unavailable' };

/**
 * The `/machine` button: a server action, so the token request and the API call happen on the
 * server (the browser never holds the access token), the request is a POST that Next.js checks
 * against the page's origin, and the result comes back to the same page without a redirect or a
 * cookie to carry it. Works without JavaScript as a plain form post.
 */
export async function runMachineCall(_previous: MachineRun | undefined): Promise<MachineRun> {
  // MUST: checked here, not only by the page. The action's id is public (it is in a script chunk),
  // and anyone can POST it; without a session no token is requested and nothing is shown.
  let signedIn: boolean;
  try {
    signedIn = (await readSession()) !== undefined;
  } catch (err) {
    if (isSessionUnavailable(err)) return { at: Date.now(), refused: 'session_store_unavailable' };
    throw err;
  }
  if (!decideMachineAccess(signedIn).allowed) {
    log.warn('machine call refused: nobody is signed in');
    return { at: Date.now(), refused: 'sign_in_required' };
  }
  const outcome = await callApiWithClientCredentials();
  // A signed-in user can inspect the token request on /inspector.
  await recordClientCredentialsFlow(outcome);
  return { at: Date.now(), outcome };
}
