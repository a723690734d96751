'use server';

import { recordClientCredentialsFlow } from '@/lib/flow-inspector';
import { callApiWithClientCredentials, type MachineCallOutcome } from '@/lib/machine-call';

export type MachineRun = { readonly at: number; readonly outcome: MachineCallOutcome };

/**
 * The `/machine` button: a server action, so the token request and the API call happen on the
 * server (the browser never holds the access token), the request is a POST that Next.js checks
 * against the page's origin, and the result comes back to the same page without a redirect or a
 * cookie to carry it. Works without JavaScript as a plain form post.
 */
export async function runMachineCall(_previous: MachineRun | undefined): Promise<MachineRun> {
  const outcome = await callApiWithClientCredentials();
  // A signed-in user can inspect the token request on /inspector.
  await recordClientCredentialsFlow(outcome);
  return { at: Date.now(), outcome };
}
