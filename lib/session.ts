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
  sealTransaction,
  TRANSACTION_TTL_SECONDS,
  unsealTransaction,
  type Transaction,
} from './transaction';

/**
 * The app's cookies, all sealed with iron-session (AES-256-CBC + HMAC-SHA-256 under
 * SESSION_SECRET), HttpOnly, SameSite=Lax, and Secure with a `__Host-` name when APP_URL is https.
 *
 * - session: who is signed in. Read by pages without any request to the provider.
 * - transaction: one sign-in in flight (see ./transaction.ts), deleted by the callback.
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

/** Stores the sign-in transaction in its cookie. Route handlers only. */
export async function storeTransaction(tx: Transaction): Promise<void> {
  const store = await cookies();
  store.set(
    cookieName('rp_tx'),
    await sealTransaction(tx, getConfig().sessionSecret),
    cookieOptions(TRANSACTION_TTL_SECONDS),
  );
}

/**
 * Reads the sign-in transaction and deletes its cookie: a transaction is good for one callback.
 * Route handlers only.
 */
export async function takeTransaction(): Promise<Transaction | undefined> {
  const store = await cookies();
  const name = cookieName('rp_tx');
  const sealed = store.get(name)?.value;
  if (sealed !== undefined) store.set(name, '', cookieOptions(0));
  return unsealTransaction(sealed, getConfig().sessionSecret);
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
