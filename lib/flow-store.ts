import 'server-only';

import { unsealData } from 'iron-session';
import { cookies } from 'next/headers';

import { getConfig } from './config';
import { isFlowRecord, sealFlowRecord, type FlowRecord } from './flow-record';
import { SESSION_TTL_SECONDS } from './session-data';

/**
 * Where the flow inspector's records live: one sealed cookie per kind of flow (the last sign-in,
 * the last refresh, the last client-credentials token request), HttpOnly, scoped to `/inspector` so that no other
 * request carries it. Kept apart from the session on purpose: a small bounded structure of its
 * own that can move into a server-side session store as it is.
 *
 * A cookie scoped to a path cannot carry the `__Host-` prefix (which requires `Path=/`): over
 * https it gets `__Secure-` instead (Secure required, no Domain set, so host-only all the same).
 */

export const INSPECTOR_PATH = '/inspector';

const NAMES: Record<FlowRecord['kind'], string> = {
  'sign-in': 'rp_flow_signin',
  'client-credentials': 'rp_flow_cc',
  refresh: 'rp_flow_refresh',
};

function cookieName(kind: FlowRecord['kind']): string {
  return getConfig().secureCookies ? `__Secure-${NAMES[kind]}` : NAMES[kind];
}

function cookieOptions(maxAge: number) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: getConfig().secureCookies,
    path: INSPECTOR_PATH,
    maxAge,
  };
}

/**
 * Keeps `record` for the inspector (trimmed to fit one cookie, or not kept at all). Route handlers
 * and server actions only. Never logs the record.
 */
export async function storeFlowRecord(record: FlowRecord): Promise<void> {
  const fitted = await sealFlowRecord(record, getConfig().sessionSecret, SESSION_TTL_SECONDS);
  const store = await cookies();
  if (!fitted) {
    store.set(cookieName(record.kind), '', cookieOptions(0));
    return;
  }
  store.set(cookieName(record.kind), fitted.sealed, cookieOptions(SESSION_TTL_SECONDS));
}

/** The record of `kind` for `sub`, or undefined (none, unreadable, or another user's). */
export async function readFlowRecord<K extends FlowRecord['kind']>(
  kind: K,
  sub: string,
): Promise<Extract<FlowRecord, { kind: K }> | undefined> {
  const sealed = (await cookies()).get(cookieName(kind))?.value;
  if (!sealed) return undefined;
  try {
    const value = await unsealData<unknown>(sealed, {
      password: getConfig().sessionSecret,
      ttl: SESSION_TTL_SECONDS,
    });
    if (!isFlowRecord(value) || value.kind !== kind || value.sub !== sub) return undefined;
    return value as Extract<FlowRecord, { kind: K }>;
  } catch {
    return undefined;
  }
}

/** Forgets every record (sign-out). Route handlers only. */
export async function clearFlowRecords(): Promise<void> {
  const store = await cookies();
  for (const kind of Object.keys(NAMES) as FlowRecord['kind'][])
    store.set(cookieName(kind), '', cookieOptions(0));
}
