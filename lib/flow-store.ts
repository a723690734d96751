import 'server-only';

import { fitFlowRecord, isFlowRecord, type FlowRecord } from './flow-record';
import { attachToSession, readSessionAttachment } from './session';
import type { SessionAttachments } from './session-store';

/**
 * Where the flow inspector's records live: with the session, in the session store (this process's
 * memory, or Redis), one record of each kind (the last sign-in, the last refresh, the last
 * client-credentials token request), bounded in size (./flow-record.ts). No cookie carries them
 * and no request but `/inspector`'s reads them; they end with the session, at sign-out or a
 * back-channel logout, and every instance sharing Redis shows the same.
 *
 * Nothing here is ever logged.
 */

/** The attachment name of each kind of record (./session-store.ts). */
const NAMES: Record<FlowRecord['kind'], string> = {
  'sign-in': 'flow-signin',
  'client-credentials': 'flow-cc',
  refresh: 'flow-refresh',
};

/**
 * The record of a sign-in, as attachments for the session it creates (`saveSession`): stored
 * with the session in the same write, so a sign-in costs no extra round trip to the store.
 * Undefined when not even the smallest version of it fits the bound.
 */
export function toSessionAttachments(record: FlowRecord): SessionAttachments | undefined {
  const fitted = fitFlowRecord(record);
  return fitted ? { [NAMES[record.kind]]: fitted.json } : undefined;
}

/**
 * Keeps `record` with this browser's session (trimmed to the bound, or not kept at all), replacing
 * the last one of its kind. Route handlers and server actions only.
 */
export async function storeFlowRecord(record: FlowRecord): Promise<void> {
  const fitted = fitFlowRecord(record);
  if (fitted) await attachToSession(NAMES[record.kind], fitted.json);
}

/** The record of `kind` for `sub`, or undefined (none, unreadable, or another user's). */
export async function readFlowRecord<K extends FlowRecord['kind']>(
  kind: K,
  sub: string,
): Promise<Extract<FlowRecord, { kind: K }> | undefined> {
  const json = await readSessionAttachment(NAMES[kind]);
  if (json === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(json);
    if (!isFlowRecord(value) || value.kind !== kind || value.sub !== sub) return undefined;
    return value as Extract<FlowRecord, { kind: K }>;
  } catch {
    return undefined;
  }
}
