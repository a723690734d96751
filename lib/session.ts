import 'server-only';

import { sealData, unsealData } from 'iron-session';
import { cookies } from 'next/headers';

import { getConfig, openWithRotation } from './config';
import { cookieName, cookiePrefix, sessionCookieName } from './cookie-names';
import { loadDpopKey, sealDpopJwk, unsealDpopJwk, type DpopKey } from './dpop-client';
import { AuthError, isAuthErrorCode, type AuthErrorCode } from './errors';
import { describeError, log } from './log';
import { getSessionStore, getUserTokens } from './session-backend';
import {
  buildSessionRecord,
  openSessionCookie,
  sealSessionCookie,
  SESSION_TTL_SECONDS,
  type SessionData,
} from './session-data';
import type { EndReason, SessionRecord } from './session-record';
import {
  createSessionId,
  isSessionStoreUnavailable,
  type SessionAttachments,
} from './session-store';
import type { SignInResult } from './sign-in';
import {
  forgetSealedTransaction,
  isTransactionCookieName,
  sealTransaction,
  selectEvictions,
  transactionCookieName,
  TRANSACTION_TTL_SECONDS,
  unsealTransaction,
  type Transaction,
} from './transaction';
import type { TokenSource } from './user-tokens';

/**
 * The app's cookies, all sealed with iron-session (AES-256-CBC + HMAC-SHA-256 under
 * SESSION_SECRET; previous secrets still open them, see lib/config.ts), HttpOnly, SameSite=Lax,
 * and Secure with a `__Host-` name when APP_URL is https.
 *
 * - session: the session id, nothing else. The session itself (who, the ID token, UserInfo, the
 *   refresh and access tokens) is a record in the session store (./session-backend.ts): memory,
 *   or Redis shared by every instance. Ending a session there ends it for every copy of the
 *   cookie, and no token ever reaches the browser.
 * - transaction: one cookie per sign-in in flight, named after its `state` (see ./transaction.ts),
 *   deleted by its callback; a few may be pending at once (several tabs).
 * - error: the OAuth error of a failed sign-in, for the error page (so that the page never shows
 *   text taken from its own URL).
 *
 * SameSite=Lax, not Strict: the callback is a cross-site top-level GET from the provider, and a
 * Strict transaction cookie would not come along.
 */

const ERROR_TTL_SECONDS = 300;

function cookieOptions(maxAge: number) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: getConfig().secureCookies,
    path: '/',
    maxAge,
  };
}

/**
 * Runs a store operation; an unreachable store becomes `AuthError('session_store_unavailable')`,
 * which routes answer with 503 (never a 500, never a silent sign-out).
 */
async function withStore<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isSessionStoreUnavailable(err))
      throw new AuthError('session_store_unavailable', { detail: describeError(err), cause: err });
    throw err;
  }
}

/**
 * Whether `err` is the `session_store_unavailable` that session operations throw (see
 * {@link withStore}): routes answer it with 503, pages send the browser to `/auth/unavailable`.
 */
export function isSessionUnavailable(err: unknown): boolean {
  return err instanceof AuthError && err.code === 'session_store_unavailable';
}

/** The session id in this request's cookie, if it opens. */
async function readSessionId(): Promise<string | undefined> {
  const sealed = (await cookies()).get(sessionCookieName())?.value;
  return openSessionCookie(sealed, getConfig().sessionPasswords, (reason) =>
    // A burst of these means probing (`invalid`) or a broken secret rotation (`unknown-password`).
    log.warn('session cookie unreadable; treating as signed out', { reason }),
  );
}

export type SessionState =
  | { readonly state: 'none' }
  /** Ended early by the provider's refusal to refresh: the next page says so. */
  | { readonly state: 'ended'; readonly reason: EndReason }
  | { readonly state: 'active'; readonly record: SessionRecord };

/**
 * This request's session as the store has it. Costs one cookie decryption and one store read
 * (none without a cookie); no request to the provider.
 *
 * @throws {AuthError} `session_store_unavailable` when the store cannot be reached.
 */
export async function readSessionState(): Promise<SessionState> {
  const id = await readSessionId();
  if (id === undefined) return { state: 'none' };
  const stored = await withStore(() => getSessionStore().get(id));
  if (!stored) return { state: 'none' };
  return stored.state === 'active'
    ? { state: 'active', record: stored.record }
    : { state: 'ended', reason: stored.reason };
}

/**
 * The signed-in user's session, or undefined. Makes no request to the provider.
 *
 * @throws {AuthError} `session_store_unavailable` when the store cannot be reached.
 */
export async function readSession(): Promise<SessionData | undefined> {
  const current = await readSessionState();
  return current.state === 'active' ? current.record.user : undefined;
}

/** The session a sign-in is about to create, begun by {@link beginNewSession}. */
export type NewSession = {
  /**
   * Creates the session of the completed sign-in: the record in the store (with `attachments`,
   * see {@link attachToSession}), then the cookie. Call it once, from the route handler that
   * began it.
   *
   * @throws {AuthError} `session_store_unavailable`.
   */
  readonly save: (result: SignInResult, attachments?: SessionAttachments) => Promise<SessionRecord>;
};

/**
 * Begins the session of a sign-in whose transaction was found: a new session id (never one the
 * browser brought: no session fixation) and its cookie, sealed now, while the code is redeemed,
 * rather than after it (a seal is about half a millisecond of WebCrypto, and the token request
 * leaves the process idle). Nothing is stored and no cookie is set before
 * {@link NewSession.save}: a sign-in that fails drops both, and the id leads nowhere. Route
 * handlers only.
 *
 * Begun only once the callback is known to be this browser's (its transaction found) and the
 * store has answered: a stray callback, or one the store turns away, costs no seal.
 */
export function beginNewSession(): NewSession {
  const id = createSessionId();
  // Settled into a value now, thrown (if at all) by save(): a sign-in refused before it saves must
  // not leave a rejected promise nobody awaits.
  const sealed = sealSessionCookie(id, getConfig().sessionPasswords).then(
    (value) => ({ value }),
    (err: unknown) => ({ err }),
  );
  return {
    async save(result, attachments) {
      // MUST: the session's DPoP private key is stored sealed, never in the clear (./dpop-client.ts).
      const dpopKey = result.dpop
        ? await sealDpopJwk(result.dpop.key, getConfig().sessionPasswords.seal)
        : undefined;
      const record = buildSessionRecord(result, { id, dpopKey });
      await withStore(() => getSessionStore().create(record, attachments));
      const cookie = await sealed;
      if ('err' in cookie) throw cookie.err;
      (await cookies()).set(sessionCookieName(), cookie.value, cookieOptions(SESSION_TTL_SECONDS));
      return record;
    },
  };
}

/** A sign-in's replacement of this browser's session, begun by {@link beginSessionReplacement}. */
export type SessionReplacement = {
  /**
   * Ends this browser's session, if it has one, once the store has answered: call it when the
   * callback is known to belong to a sign-in of this browser, before the code is redeemed.
   *
   * @throws {AuthError} `session_store_unavailable`: the cookie stays, and nothing was ended
   *   unless {@link SessionReplacement.sessionMayHaveEnded} says otherwise.
   */
  readonly complete: () => Promise<void>;
  /**
   * Whether a failed {@link SessionReplacement.complete} may still have ended the session: the
   * store answered the ping, then did not answer the removal in time (it may carry it out later).
   */
  readonly sessionMayHaveEnded: () => boolean;
};

/**
 * Clears the way for a sign-in's new session, before its code is redeemed: makes sure that the
 * store answers (a ping), so that no code is redeemed for a session that could not be kept, then
 * ends this browser's session, if it has one. Route handlers only.
 *
 * Begun at once, completed later: the ping and the opening of the session cookie run while the
 * caller opens its transaction cookie (a sign-in spends a store round trip less waiting). Nothing
 * changes before {@link SessionReplacement.complete}; a replacement never completed (the callback
 * matched no sign-in) only pinged.
 */
export function beginSessionReplacement(): SessionReplacement {
  // Settled into a value now, thrown (if at all) by complete(): a callback that is refused before
  // it completes must not leave a rejected promise nobody awaits.
  const pinged = withStore(() => getSessionStore().ping()).then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  const sessionId = readSessionId();
  // Handled here too, for the same reason (complete() still sees a failure: it awaits the promise).
  sessionId.catch(() => undefined);
  let removalFailed = false;
  return {
    sessionMayHaveEnded: () => removalFailed,
    async complete() {
      const store = await cookies();
      const name = sessionCookieName();
      // MUST: the ping first, even when a removal follows. A removal sent to a store that does not
      // answer in time (frozen, overloaded) fails this request with 503 and may still be carried
      // out once the store catches up: the browser, told that nothing changed, would be signed
      // out. A ping changes nothing either way. (A sign-in without a session, the usual one, costs
      // one round trip; one with a session, two.)
      // MUST: the removal before the code is redeemed, not with the new session's write. Deferred
      // to that write, a store lost during the redemption (or before a refused sign-in's cleanup)
      // could no longer delete the old session: the sign-in would fail with its code spent, and a
      // copy of the old cookie would find the session again once the store is back. Here, a failed
      // removal still answers 503 with nothing redeemed and nothing changed.
      // A removal that fails after a ping that answered is the one case where the store may still
      // carry out what it did not confirm: the caller says so (a store that stops answering
      // between the two; `CLIENT PAUSE WRITE` does it on purpose).
      const [failed, id] = await Promise.all([pinged, sessionId]);
      if (failed) throw failed.err;
      if (id !== undefined) {
        try {
          await withStore(() => getSessionStore().remove(id));
        } catch (err) {
          removalFailed = true;
          throw err;
        }
      }
      if (store.get(name) !== undefined) store.set(name, '', cookieOptions(0));
    },
  };
}

/**
 * Keeps `value` under `name` with this browser's session, in the store (so every instance sees
 * it, and it ends with the session): data about the session that one page reads, such as the
 * flow inspector's records. Route handlers and server actions only.
 *
 * @returns false when there is no active session (then nothing is kept).
 * @throws {AuthError} `session_store_unavailable`.
 */
export async function attachToSession(name: string, value: string): Promise<boolean> {
  const id = await readSessionId();
  if (id === undefined) return false;
  return withStore(() => getSessionStore().attach(id, name, value));
}

/**
 * What is attached under `name` to this browser's session (see {@link attachToSession}).
 *
 * @throws {AuthError} `session_store_unavailable`.
 */
export async function readSessionAttachment(name: string): Promise<string | undefined> {
  const id = await readSessionId();
  if (id === undefined) return undefined;
  return withStore(() => getSessionStore().getAttachment(id, name));
}

/**
 * Ends this browser's session: the record is deleted from the store (a replayed cookie then
 * finds nothing) and the cookie removed. Route handlers only.
 *
 * @returns the record that was ended, for the caller to revoke its refresh token.
 * @throws {AuthError} `session_store_unavailable`: then nothing was ended, the cookie stays, and
 *   the user can try again.
 */
export async function destroySession(): Promise<SessionRecord | undefined> {
  const store = await cookies();
  const name = sessionCookieName();
  if (store.get(name) === undefined) return undefined;
  const id = await readSessionId();
  const removed =
    id === undefined ? undefined : await withStore(() => getSessionStore().remove(id));
  store.set(name, '', cookieOptions(0));
  return removed;
}

/** A valid access token of the signed-in user, for the protected API. */
export type UserAccessToken = {
  /** The access token (a bearer token). Never send it to the browser or write it to a log. */
  readonly token: string;
  /** When it expires, ms since the epoch (undefined when the provider did not say). */
  readonly expiresAt: number | undefined;
  readonly scope: string | undefined;
  /** Where it came from: the session, a refresh made now, or a refresh made by someone else. */
  readonly source: TokenSource;
  /** When this call refreshed: the client assertion that authenticated the refresh grant. */
  readonly refreshAssertion?: string | undefined;
  /** `token_type`: `bearer`, or `dpop` for a token bound to the session's key (RFC 9449). */
  readonly tokenType: string;
  /**
   * The session's DPoP key (non-extractable), for a DPoP-bound token: every request with the
   * token must carry a proof of it (lib/api-call.ts does).
   */
  readonly dpopKey?: DpopKey | undefined;
  /** When this call refreshed with DPoP: the proofs sent with the refresh grant. */
  readonly refreshProofs?: readonly string[] | undefined;
};

/**
 * **The integrator's entry point**: a valid access token of the signed-in user for the protected
 * API (`API_RESOURCE`, scope `API_SCOPE`), for server code only (route handlers, server
 * components, server actions). The token comes from the server-side session; when it expires
 * within 30 seconds (or does not exist yet), it is refreshed first: a refresh grant with
 * `resource=API_RESOURCE`, authenticated by a newly signed client assertion, one at a time per
 * session across every instance, the rotated refresh token stored atomically.
 *
 * @param options.forceRefresh refresh even if the stored token looks valid (the API refused it).
 * @throws {AuthError} `not_signed_in`; `session_expired` (the provider refused the refresh: the
 *   session is ended, sign in again); `refresh_unavailable` (no refresh token);
 *   `provider_unreachable` (retry later; the session is kept); `session_store_unavailable`.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refresh)
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.2 (resource on the token request)
 */
export async function getAccessToken(
  options: { forceRefresh?: boolean } = {},
): Promise<UserAccessToken> {
  const id = await readSessionId();
  if (id === undefined) throw new AuthError('not_signed_in');
  const lease = await withStore(() =>
    getUserTokens().getAccessToken(id, { force: options.forceRefresh === true }),
  );
  return {
    token: lease.access_token,
    expiresAt: lease.expires_at,
    scope: lease.scope,
    source: lease.source,
    refreshAssertion: lease.client_assertion,
    tokenType: lease.token_type,
    dpopKey: lease.token_type === 'dpop' ? await readDpopKey(id) : undefined,
    refreshProofs: lease.dpop_proofs,
  };
}

/**
 * The session's DPoP key: unsealed from the record, imported non-extractable once per process.
 *
 * @throws {AuthError} `session_expired` when the record has none or it cannot be opened (its
 *   DPoP-bound tokens are then useless).
 */
async function readDpopKey(id: string): Promise<DpopKey> {
  const stored = await withStore(() => getSessionStore().get(id));
  if (stored?.state !== 'active') throw new AuthError('not_signed_in');
  const sealed = stored.record.dpop_key;
  const jwk =
    sealed === undefined
      ? undefined
      : await openWithRotation(sealed, getConfig().sessionPasswords, (password) =>
          unsealDpopJwk(sealed, password),
        );
  if (!jwk)
    throw new AuthError('session_expired', { detail: 'the session has no usable DPoP key' });
  return loadDpopKey(jwk);
}

/**
 * Stores the sign-in transaction in a cookie of its own, named after its `state`, next to those of
 * other sign-ins in flight in this browser (other tabs). When there would be too many, or too
 * many characters of them (./transaction.ts: `MAX_PENDING_TRANSACTIONS`,
 * `MAX_PENDING_TRANSACTIONS_LENGTH`), the oldest go. Route handlers only.
 *
 * Path `/`, not `/auth/callback`: the `__Host-` prefix (https) requires it, and that prefix is what
 * keeps a sibling subdomain from planting a transaction of its own (a login CSRF); `/auth/login`
 * also has to see the pending ones to bound them.
 *
 * `sealedAhead`: `tx` already sealed, when it was made ahead (lib/prepared-sign-in.ts).
 */
export async function storeTransaction(tx: Transaction, sealedAhead?: string): Promise<void> {
  const store = await cookies();
  const { seal, open } = getConfig().sessionPasswords;
  const prefix = cookiePrefix();
  const name = transactionCookieName(tx.state, prefix);
  const sealed = sealedAhead ?? (await sealTransaction(tx, seal));
  const pending = store
    .getAll()
    .filter((c) => c.name !== name && c.value !== '' && isTransactionCookieName(c.name, prefix))
    .map((c) => ({ name: c.name, value: c.value, length: c.name.length + c.value.length + 1 }));
  const incoming = name.length + sealed.length + 1;
  if (selectEvictions(pending, incoming).length > 0) {
    // Only now are they opened (one unseal each): to learn which are oldest.
    const dated = await Promise.all(
      pending.map(async (c) => ({
        ...c,
        createdAt: (await unsealTransaction(c.value, open))?.created_at,
      })),
    );
    for (const evicted of selectEvictions(dated, incoming))
      store.set(evicted, '', cookieOptions(0));
  }
  store.set(name, sealed, cookieOptions(TRANSACTION_TTL_SECONDS));
}

/** How many sign-ins this browser has in flight (transaction cookies present, read or not). */
export async function countPendingTransactions(): Promise<number> {
  const prefix = cookiePrefix();
  return (await cookies())
    .getAll()
    .filter((c) => c.value !== '' && isTransactionCookieName(c.name, prefix)).length;
}

/**
 * The transaction of the sign-in whose `state` the callback carries, left in place (the callback
 * consumes it with {@link forgetTransaction} once it may go on). Undefined when there is none for
 * this state, or it is unreadable or expired. Route handlers only.
 */
export async function readTransaction(state: string): Promise<Transaction | undefined> {
  const sealed = (await cookies()).get(transactionCookieName(state, cookiePrefix()))?.value;
  if (sealed === undefined || sealed === '') return undefined;
  const transaction = await openWithRotation(sealed, getConfig().sessionPasswords, (password) =>
    unsealTransaction(sealed, password),
  );
  // MUST: the cookie's name is derived from a value the request chose; its content decides.
  return transaction?.state === state ? transaction : undefined;
}

/**
 * Deletes the transaction cookie of `state`, if this browser has one: a transaction is good for
 * one callback. Other pending transactions are left alone. Route handlers only.
 */
export async function forgetTransaction(state: string): Promise<void> {
  const store = await cookies();
  const name = transactionCookieName(state, cookiePrefix());
  const sealed = store.get(name)?.value;
  if (sealed === undefined) return;
  // Consumed: not even this process opens it from memory again (lib/seal-cache.ts).
  forgetSealedTransaction(sealed);
  store.set(name, '', cookieOptions(0));
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
    await sealData(flash, { password: getConfig().sessionPasswords.seal, ttl: ERROR_TTL_SECONDS }),
    cookieOptions(ERROR_TTL_SECONDS),
  );
}

/** The details of the last failed sign-in, when they belong to `code`. */
export async function readErrorFlash(code: AuthErrorCode): Promise<ErrorFlash | undefined> {
  const sealed = (await cookies()).get(cookieName('rp_error'))?.value;
  if (!sealed) return undefined;
  try {
    const flash = await unsealData<Partial<ErrorFlash>>(sealed, {
      password: getConfig().sessionPasswords.open,
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
