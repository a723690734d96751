import 'server-only';

import {
  getIronSession,
  sealData,
  unsealData,
  type IronSession,
  type SessionOptions,
} from 'iron-session';
import { cookies } from 'next/headers';

import { getConfig } from './config';
import { isAuthErrorCode, type AuthError, type AuthErrorCode } from './errors';
import { log } from './log';
import { SESSION_TTL_SECONDS, type SessionData } from './session-data';
import {
  isTransactionCookieName,
  MAX_PENDING_TRANSACTIONS,
  sealTransaction,
  selectEvictions,
  transactionCookieName,
  TRANSACTION_TTL_SECONDS,
  unsealTransaction,
  type Transaction,
} from './transaction';

/**
 * The app's cookies, all sealed with iron-session (AES-256-CBC + HMAC-SHA-256 under
 * SESSION_SECRET), HttpOnly, SameSite=Lax, and Secure with a `__Host-` name when APP_URL is https.
 *
 * - session: who is signed in. Read by pages without any request to the provider.
 * - transaction: one cookie per sign-in in flight, named after its `state` (see ./transaction.ts),
 *   deleted by its callback; a few may be pending at once (several tabs).
 * - error: the OAuth error of a failed sign-in, for the error page (so that the page never shows
 *   text taken from its own URL).
 *
 * SameSite=Lax, not Strict: the callback is a cross-site top-level GET from the provider, and a
 * Strict transaction cookie would not come along.
 */

const ERROR_TTL_SECONDS = 300;

function cookieName(base: string): string {
  return getConfig().secureCookies ? `__Host-${base}` : base;
}

function cookieOptions(maxAge: number) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: getConfig().secureCookies,
    path: '/',
    maxAge,
  };
}

function sessionOptions(): SessionOptions {
  return {
    cookieName: cookieName('rp_session'),
    password: getConfig().sessionSecret,
    // A burst of these means probing (`invalid`) or a broken secret rotation (`unknown-password`).
    onUnsealError: (reason) =>
      log.warn('session cookie unreadable; treating as signed out', { reason }),
    ttl: SESSION_TTL_SECONDS,
    cookieOptions: {
      httpOnly: true,
      sameSite: 'lax',
      secure: getConfig().secureCookies,
      path: '/',
    },
  };
}

type Stored = Partial<SessionData>;

/**
 * Opens the session. An unreadable cookie (tampered, truncated, sealed with another secret) is
 * treated as no session: iron-session throws for some of these, which must not become a 500.
 */
async function openSession(): Promise<IronSession<Stored>> {
  const store = await cookies();
  const options = sessionOptions();
  try {
    return await getIronSession<Stored>(store, options);
  } catch {
    log.warn('session cookie unreadable; treating as signed out');
    const blind = {
      get: (name: string) => (name === options.cookieName ? undefined : store.get(name)),
      set: store.set.bind(store),
    };
    return getIronSession<Stored>(blind, options);
  }
}

/** The signed-in user's session, or undefined. Makes no request to the provider. */
export async function readSession(): Promise<SessionData | undefined> {
  const session = await openSession();
  if (typeof session.sub !== 'string' || typeof session.signed_in_at !== 'number') return undefined;
  return { ...session, sub: session.sub, signed_in_at: session.signed_in_at };
}

/** Stores the session of a completed sign-in. Route handlers only. */
export async function saveSession(data: SessionData): Promise<void> {
  const session = await openSession();
  Object.assign(session, data);
  await session.save();
}

/** Removes the session cookie. Route handlers only. */
export async function destroySession(): Promise<void> {
  const session = await openSession();
  session.destroy();
}

function transactionPrefix(): '' | '__Host-' {
  return getConfig().secureCookies ? '__Host-' : '';
}

/**
 * Stores the sign-in transaction in a cookie of its own, named after its `state`, next to those of
 * other sign-ins in flight in this browser (other tabs). When {@link MAX_PENDING_TRANSACTIONS} are
 * already pending, the oldest go. Route handlers only.
 *
 * Path `/`, not `/auth/callback`: the `__Host-` prefix (https) requires it, and that prefix is what
 * keeps a sibling subdomain from planting a transaction of its own (a login CSRF); `/auth/login`
 * also has to see the pending ones to bound their number.
 */
export async function storeTransaction(tx: Transaction): Promise<void> {
  const store = await cookies();
  const password = getConfig().sessionSecret;
  const prefix = transactionPrefix();
  const name = transactionCookieName(tx.state, prefix);
  const pending = store
    .getAll()
    .filter((c) => c.name !== name && c.value !== '' && isTransactionCookieName(c.name, prefix));
  if (pending.length >= MAX_PENDING_TRANSACTIONS) {
    // Only now are they opened (one unseal each): to learn which are oldest.
    const dated = await Promise.all(
      pending.map(async (c) => ({
        name: c.name,
        createdAt: (await unsealTransaction(c.value, password))?.created_at,
      })),
    );
    for (const evicted of selectEvictions(dated, MAX_PENDING_TRANSACTIONS - 1))
      store.set(evicted, '', cookieOptions(0));
  }
  store.set(name, await sealTransaction(tx, password), cookieOptions(TRANSACTION_TTL_SECONDS));
}

/** How many sign-ins this browser has in flight (transaction cookies present, read or not). */
export async function countPendingTransactions(): Promise<number> {
  const prefix = transactionPrefix();
  return (await cookies())
    .getAll()
    .filter((c) => c.value !== '' && isTransactionCookieName(c.name, prefix)).length;
}

/**
 * Reads the transaction of the sign-in whose `state` the callback carries, and deletes its cookie:
 * a transaction is good for one callback. Other pending transactions are left alone. Undefined
 * when there is none for this state, or it is unreadable or expired. Route handlers only.
 */
export async function takeTransaction(state: string): Promise<Transaction | undefined> {
  const store = await cookies();
  const name = transactionCookieName(state, transactionPrefix());
  const sealed = store.get(name)?.value;
  if (sealed === undefined || sealed === '') return undefined;
  store.set(name, '', cookieOptions(0));
  const transaction = await unsealTransaction(sealed, getConfig().sessionSecret);
  // MUST: the cookie's name is derived from a value the request chose; its content decides.
  return transaction?.state === state ? transaction : undefined;
}

type ErrorFlash = {
  code: AuthErrorCode;
  error?: string | undefined;
  error_description?: string | undefined;
};

/** Keeps the details of a failed sign-in for the error page. Route handlers only. */
export async function storeErrorFlash(err: AuthError): Promise<void> {
  const flash: ErrorFlash = {
    code: err.code,
    error: err.error?.slice(0, 100),
    error_description: err.error_description?.slice(0, 500),
  };
  const store = await cookies();
  store.set(
    cookieName('rp_error'),
    await sealData(flash, { password: getConfig().sessionSecret, ttl: ERROR_TTL_SECONDS }),
    cookieOptions(ERROR_TTL_SECONDS),
  );
}

/** The details of the last failed sign-in, when they belong to `code`. */
export async function readErrorFlash(code: AuthErrorCode): Promise<ErrorFlash | undefined> {
  const sealed = (await cookies()).get(cookieName('rp_error'))?.value;
  if (!sealed) return undefined;
  try {
    const flash = await unsealData<Partial<ErrorFlash>>(sealed, {
      password: getConfig().sessionSecret,
      ttl: ERROR_TTL_SECONDS,
    });
    if (!isAuthErrorCode(flash.code) || flash.code !== code) return undefined;
    return {
      code: flash.code,
      error: typeof flash.error === 'string' ? flash.error : undefined,
      error_description:
        typeof flash.error_description === 'string' ? flash.error_description : undefined,
    };
  } catch {
    return undefined;
  }
}
