import { createHash } from 'node:crypto';

import { sealData, unsealData } from 'iron-session';

/**
 * The sign-in transaction: what `/auth/login` must remember for `/auth/callback` to check the
 * authorization response (`state`, `nonce`) and redeem the code (`code_verifier`).
 *
 * It travels in a sealed (encrypted and authenticated, iron-session), HttpOnly, short-lived cookie
 * bound to this browser: a callback opened in another browser, or opened twice, finds none.
 *
 * One cookie per sign-in, named after its `state`: several tabs may sign in at once, each callback
 * finds its own transaction by the `state` it carries, and a late callback of one tab cannot
 * consume (or be refused for) another tab's. Their number is bounded ({@link MAX_PENDING_TRANSACTIONS},
 * the oldest goes first) and so is each one's size ({@link MAX_TRANSACTION_COOKIE_LENGTH}), so that
 * the browser's Cookie header stays far below what servers accept.
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
};

/** A sign-in must complete within this many seconds. */
export const TRANSACTION_TTL_SECONDS = 600;

/**
 * Sign-ins one browser may have in flight (tabs); starting one more drops the oldest. Five
 * transactions of the largest size, the session and the error cookie stay under 12 KB of Cookie
 * header, below Node.js's 16 KB header limit.
 */
export const MAX_PENDING_TRANSACTIONS = 5;

/**
 * Largest sealed transaction stored. A transaction's members are bounded (`returnTo` to 512
 * characters, the rest are fixed-size random values): a sealed one measures about 1.2 KB at most.
 */
export const MAX_TRANSACTION_COOKIE_LENGTH = 1536;

const COOKIE_BASE = 'rp_tx_';

/**
 * The cookie that holds the transaction of `state`: a hash of the state, so that the name has a
 * fixed length and only cookie-name characters whatever a callback sends as `state`.
 *
 * @param prefix `__Host-` when the app's cookies are Secure (APP_URL is https), else empty.
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-4.1.1 (cookie-name is a token)
 */
export function transactionCookieName(state: string, prefix: '' | '__Host-'): string {
  const id = createHash('sha256').update(state, 'utf8').digest('base64url').slice(0, 22);
  return `${prefix}${COOKIE_BASE}${id}`;
}

/** Whether `name` is a transaction cookie of this app (with this prefix). */
export function isTransactionCookieName(name: string, prefix: '' | '__Host-'): boolean {
  return name.startsWith(`${prefix}${COOKIE_BASE}`) && name.length === prefix.length + 28;
}

/** A pending transaction cookie and, when it could be read, when its sign-in started. */
export type PendingTransaction = { readonly name: string; readonly createdAt: number | undefined };

/**
 * Which pending transactions to drop so that `max` remain: unreadable ones first, then the oldest.
 */
export function selectEvictions(
  pending: readonly PendingTransaction[],
  max: number,
): readonly string[] {
  const excess = pending.length - Math.max(0, max);
  if (excess <= 0) return [];
  return [...pending]
    .sort((a, b) => (a.createdAt ?? -Infinity) - (b.createdAt ?? -Infinity))
    .slice(0, excess)
    .map((p) => p.name);
}

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
    typeof v.created_at === 'number'
  );
}

/** An iron-session password: one secret, or a map id → secret (rotation, see lib/config.ts). */
export type SealPassword = string | Readonly<Record<string, string>>;

/**
 * Seals a transaction for its cookie.
 *
 * @throws {RangeError} when the sealed value exceeds {@link MAX_TRANSACTION_COOKIE_LENGTH} (its
 *   members were not bounded before: a programming error, never stored).
 */
export async function sealTransaction(tx: Transaction, password: SealPassword): Promise<string> {
  const sealed = await sealData(tx, { password, ttl: TRANSACTION_TTL_SECONDS });
  if (sealed.length > MAX_TRANSACTION_COOKIE_LENGTH) {
    throw new RangeError(
      `sealed transaction of ${sealed.length} characters exceeds ${MAX_TRANSACTION_COOKIE_LENGTH}`,
    );
  }
  return sealed;
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
