import { createHash } from 'node:crypto';

import type { JWK } from 'jose';

import type { ParView } from './authorization-request';
import { processSingleton } from './process-slot';
import { createSealCache, type SealPassword } from './seal-cache';

/**
 * The sign-in transaction: what `/auth/login` must remember for `/auth/callback` to check the
 * authorization response (`state`, `nonce`) and redeem the code (`code_verifier`).
 *
 * It travels in a sealed (encrypted and authenticated, iron-session), HttpOnly, short-lived cookie
 * bound to this browser: a callback opened in another browser, or opened twice, finds none.
 *
 * One cookie per sign-in, named after its `state`: several tabs may sign in at once, each callback
 * finds its own transaction by the `state` it carries, and a late callback of one tab cannot
 * consume (or be refused for) another tab's. Their number and total size are bounded
 * ({@link MAX_PENDING_TRANSACTIONS}, {@link MAX_PENDING_TRANSACTIONS_LENGTH}: the oldest go first),
 * and so is each one's ({@link MAX_SEALED_TRANSACTION_LENGTH}), so that the browser's Cookie
 * header stays far below what servers accept.
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

/** Sign-ins one browser may have in flight (tabs); starting one more drops the oldest. */
export const MAX_PENDING_TRANSACTIONS = 5;

/**
 * Most characters the pending transaction cookies may take together (`name=value; ` each): a
 * sign-in with a PAR view or a DPoP key seals to 1–3.8 KB, one without to about 0.5–1.2 KB. Kept
 * far below what servers accept for all request headers (Node.js: 16 KB), whatever else the
 * browser sends (the session and error cookies, other cookies of the host).
 */
export const MAX_PENDING_TRANSACTIONS_LENGTH = 8192;

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

/**
 * A pending transaction cookie: its name, how many characters it takes in the Cookie header, and,
 * when it was read, when its sign-in started.
 */
export type PendingTransaction = {
  readonly name: string;
  readonly length: number;
  readonly createdAt?: number | undefined;
};

/**
 * Which pending transactions to drop before one of `incomingLength` characters joins them, so that
 * both bounds hold: unreadable (or unread) ones first, then the oldest.
 */
export function selectEvictions(
  pending: readonly PendingTransaction[],
  incomingLength: number,
  limits = { count: MAX_PENDING_TRANSACTIONS, length: MAX_PENDING_TRANSACTIONS_LENGTH },
): readonly string[] {
  let count = pending.length + 1;
  let length = pending.reduce((sum, p) => sum + p.length, incomingLength);
  const evicted: string[] = [];
  const oldestFirst = [...pending].sort(
    (a, b) => (a.createdAt ?? -Infinity) - (b.createdAt ?? -Infinity),
  );
  for (const p of oldestFirst) {
    if (count <= limits.count && length <= limits.length) break;
    evicted.push(p.name);
    count -= 1;
    length -= p.length;
  }
  return evicted;
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
    typeof v.created_at === 'number' &&
    (v.dpop_key === undefined || (typeof v.dpop_key === 'object' && v.dpop_key !== null)) &&
    (v.par === undefined || (typeof v.par === 'object' && v.par !== null))
  );
}

export type { SealPassword } from './seal-cache';

/**
 * Transactions sealed or opened in this process: the callback's unseal of the login's seal costs
 * no crypto. One per process, not per Next.js bundle (the login and the callback are two).
 */
const transactionSeals = processSingleton('seal-cache:transaction', () => createSealCache());

/**
 * Seals a transaction for its cookie. The PAR view, for display only, goes first when the cookie
 * would not fit (a browser drops a cookie over 4 KB, and the sign-in would fail for want of its
 * transaction).
 *
 * @throws {RangeError} when even without it the sealed value exceeds
 *   {@link MAX_SEALED_TRANSACTION_LENGTH} (its members were not bounded before: a programming
 *   error; never stored, so never lost silently by the browser).
 */
export async function sealTransaction(tx: Transaction, password: SealPassword): Promise<string> {
  let sealed = await transactionSeals.seal(tx, { password, ttl: TRANSACTION_TTL_SECONDS });
  if (sealed.length > MAX_SEALED_TRANSACTION_LENGTH && tx.par !== undefined) {
    sealed = await transactionSeals.seal(
      { ...tx, par: undefined },
      { password, ttl: TRANSACTION_TTL_SECONDS },
    );
  }
  if (sealed.length > MAX_SEALED_TRANSACTION_LENGTH) {
    throw new RangeError(
      `sealed transaction of ${sealed.length} characters exceeds ${MAX_SEALED_TRANSACTION_LENGTH}`,
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
    const value = await transactionSeals.unseal<unknown>(sealed, {
      password,
      ttl: TRANSACTION_TTL_SECONDS,
    });
    return isTransaction(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Forgets a consumed transaction's cookie value: it is never opened from memory again. */
export function forgetSealedTransaction(sealed: string): void {
  transactionSeals.forget(sealed);
}

/**
 * How long after its sign-in began a transaction cookie can still be opened: its TTL plus the 60 s
 * iron-session allows a seal past its expiry (clock skew between processes).
 */
const TRANSACTION_OPENABLE_SECONDS = TRANSACTION_TTL_SECONDS + 60;

/** Claims held at most (each a `state` and a time); beyond it the oldest go first. */
export const MAX_CLAIMED_TRANSACTIONS = 10_000;

/** The `state` of every transaction whose callback began in this process, and when it lapses (ms). */
const claimedTransactions = processSingleton('transaction-claims', () => new Map<string, number>());

/**
 * Claims a transaction for the one callback that may complete it. The cookie is deleted by the
 * callback's answer, but a second request sent before that answer arrives (a reload while the
 * callback is pending, a retried request) still carries it: without a claim both would redeem
 * the code, and a provider that sees a code twice refuses the second and SHOULD revoke what it
 * issued for the first, the session's tokens.
 *
 * MUST: the client MUST NOT use an authorization code more than once (RFC 6749 §4.1.2). The claim
 * lasts as long as the cookie could still be opened, so a copy of a consumed cookie is refused too.
 * It holds in this process only: callbacks of one browser that several processes share are not
 * serialised by it.
 *
 * @returns true for the first claim of this transaction, false when it is claimed already.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export function claimTransaction(
  tx: Pick<Transaction, 'state' | 'created_at'>,
  now = Date.now(),
): boolean {
  const claims = claimedTransactions;
  const held = claims.get(tx.state);
  if (held !== undefined && held > now) return false;
  // Lapsed claims go, the oldest first, and so do the oldest beyond the bound.
  for (const [state, lapsesAt] of claims) {
    if (lapsesAt > now && claims.size < MAX_CLAIMED_TRANSACTIONS) break;
    claims.delete(state);
  }
  claims.set(tx.state, (tx.created_at + TRANSACTION_OPENABLE_SECONDS) * 1000);
  return true;
}

/**
 * Gives a claim back: the callback stopped before it consumed the transaction (the session store
 * did not answer, and nothing was redeemed), so loading the page again may complete it.
 */
export function releaseTransaction(tx: Pick<Transaction, 'state'>): void {
  claimedTransactions.delete(tx.state);
}
