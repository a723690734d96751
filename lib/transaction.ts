import { sealData, unsealData } from 'iron-session';
import type { JWK } from 'jose';

import type { ParView } from './authorization-request';

/**
 * The sign-in transaction: what `/auth/login` must remember for `/auth/callback` to check the
 * authorization response (`state`, `nonce`) and redeem the code (`code_verifier`).
 *
 * It travels in a sealed (encrypted and authenticated, iron-session), HttpOnly, short-lived cookie
 * bound to this browser: a callback opened in another browser, or opened twice, finds none.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4 (PKCE)
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.7 (CSRF protection with state / PKCE)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#NonceNotes (nonce)
 */

export type Transaction = {
  readonly state: string;
  readonly nonce: string;
  readonly code_verifier: string;
  readonly returnTo: string;
  /** Seconds since the epoch. */
  readonly created_at: number;
  /**
   * The session's DPoP private key (RFC 9449), made at sign-in start and bound to the code: the
   * cookie is sealed, and the key moves to the session state at the callback.
   */
  readonly dpop_key?: JWK | undefined;
  /** What was pushed to the PAR endpoint (RFC 9126), for /profile. */
  readonly par?: ParView | undefined;
};

/** Browsers drop cookies over 4096 bytes (name, value and attributes); keep a margin. */
export const MAX_SEALED_TRANSACTION_LENGTH = 3800;

/** A sign-in must complete within this many seconds. */
export const TRANSACTION_TTL_SECONDS = 600;

function isTransaction(value: unknown): value is Transaction {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.state === 'string' &&
    v.state.length > 0 &&
    typeof v.nonce === 'string' &&
    v.nonce.length > 0 &&
    typeof v.code_verifier === 'string' &&
    v.code_verifier.length >= 43 &&
    typeof v.returnTo === 'string' &&
    v.returnTo.startsWith('/') &&
    typeof v.created_at === 'number' &&
    (v.dpop_key === undefined || (typeof v.dpop_key === 'object' && v.dpop_key !== null)) &&
    (v.par === undefined || (typeof v.par === 'object' && v.par !== null))
  );
}

/** An iron-session password: one secret, or a map id → secret (rotation, see lib/config.ts). */
export type SealPassword = string | Readonly<Record<string, string>>;

/** Seals a transaction for its cookie. */
export async function sealTransaction(tx: Transaction, password: SealPassword): Promise<string> {
  const sealed = await sealData(tx, { password, ttl: TRANSACTION_TTL_SECONDS });
  if (sealed.length <= MAX_SEALED_TRANSACTION_LENGTH || tx.par === undefined) return sealed;
  // The PAR view is for display only: it goes first when the cookie would not fit (a browser
  // drops a cookie over 4 KB, and the sign-in would fail for want of its transaction).
  return sealData({ ...tx, par: undefined }, { password, ttl: TRANSACTION_TTL_SECONDS });
}

/**
 * Opens a transaction cookie. Tampered, truncated, expired, foreign or malformed values all yield
 * `undefined`: an unreadable transaction is no transaction. Never throws.
 */
export async function unsealTransaction(
  sealed: string | undefined,
  password: SealPassword,
): Promise<Transaction | undefined> {
  if (!sealed) return undefined;
  try {
    const value = await unsealData<unknown>(sealed, { password, ttl: TRANSACTION_TTL_SECONDS });
    return isTransaction(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
