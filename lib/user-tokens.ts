import { AuthError } from './errors';
import { log } from './log';
import { findUsableAccessToken, type SessionRecord, type SessionTokens } from './session-record';
import type { SessionStore } from './session-store';

/**
 * The signed-in user's access token for the API, kept fresh: the token in the session record
 * while it is good for more than the margin, else a refresh grant, one at a time per session.
 *
 * Kept free of OAuth and of Next.js (the refresh itself is `refresh`, see ./token-refresh.ts) so
 * that its rules can be tested with a fake clock, a scripted provider and a real store.
 *
 * - **Single flight in this process**: concurrent callers of one session share one promise.
 * - **Single flight across instances**: the refresh runs under the store's lock
 *   (`refresh:<session id>`, an owner token and a time limit longer than a token request can
 *   take). Whoever does not get the lock waits, re-reading the record, and takes the tokens the
 *   winner stored; if the winner died, its lock expires and the next caller refreshes.
 * - **Rotation stored atomically**: the new tokens replace the old ones only if the record has
 *   not changed since it was read under the lock (compare-and-set on its version).
 * - **A lost race is not a sign-out**: an `invalid_grant` for a refresh token that is no longer
 *   the stored one means someone else rotated it; the caller re-reads and uses the new tokens.
 *   Only an `invalid_grant` for the current refresh token ends the session (kept as "ended", so
 *   the next page can say why).
 * - **A provider that is down is not a sign-out**: the error goes to the caller (503), the
 *   session stays as it was.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refreshing an access token)
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2 (refresh token rotation)
 */

/** What a refresh grant gave (the token response, RFC 6749 §5.1). */
export type RefreshedTokens = {
  readonly access_token: string;
  readonly token_type: string;
  readonly expires_in?: number | undefined;
  readonly scope?: string | undefined;
  /** A new refresh token when the provider rotates; otherwise the old one stays. */
  readonly refresh_token?: string | undefined;
  /** The client assertion that authenticated the refresh (compact JWT), for display. */
  readonly client_assertion?: string | undefined;
  /** The DPoP proofs sent with the refresh (RFC 9449), for display. */
  readonly dpop_proofs?: readonly string[] | undefined;
};

/**
 * Sends one refresh grant. Must throw an {@link AuthError} with code `session_expired` for
 * `invalid_grant`, and any other error for anything else (provider down, misconfiguration).
 * `session` carries what else the grant needs from the record (its DPoP key).
 */
export type RefreshGrant = (
  refreshToken: string,
  sub: string,
  /** The session's DPoP key, and its sign-in ID token (a refreshed one must match it). */
  session: Pick<SessionRecord, 'dpop_key' | 'user'>,
) => Promise<RefreshedTokens>;

/** Revokes a refresh token at the provider (RFC 7009); never throws. */
export type RevokeRefreshToken = (refreshToken: string, sub: string) => Promise<unknown>;

/** Where the token a caller got came from. */
export type TokenSource =
  /** The stored token: no request to the provider. */
  | 'store'
  /** This call sent the refresh grant. */
  | 'refreshed'
  /** Another call in this process was refreshing; this one waited for it. */
  | 'shared'
  /** Another instance (or bundle) held the refresh lock; this one took what it stored. */
  | 'other_instance';

export type AccessTokenLease = {
  readonly access_token: string;
  readonly token_type: string;
  /** When the token expires, ms since the epoch. */
  readonly expires_at: number | undefined;
  readonly scope: string | undefined;
  readonly source: TokenSource;
  /** When this call refreshed: the client assertion that authenticated the refresh grant. */
  readonly client_assertion?: string | undefined;
  /** When this call refreshed: the DPoP proofs sent with the refresh grant. */
  readonly dpop_proofs?: readonly string[] | undefined;
};

export type UserTokenOptions = {
  readonly store: SessionStore;
  readonly refresh: RefreshGrant;
  /**
   * Revokes the refresh token a refresh returned that no session holds: its session ended while
   * the refresh was in flight, or the store failed to keep it. Without it, that token stays alive
   * at the provider.
   */
  readonly revoke?: RevokeRefreshToken;
  /** Refresh when the token expires within this (ms; default 30 s, at most half its lifetime). */
  readonly marginMs?: number;
  /** Lifetime of the refresh lock: longer than a token request can take. */
  readonly lockTtlMs: number;
  /** How long a caller waits for another's refresh before answering 503 (default 2 × lock TTL). */
  readonly maxWaitMs?: number;
  /** Between two looks at a refresh someone else is doing. */
  readonly pollMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
};

export type UserTokens = {
  /**
   * A valid access token for session `id`, refreshed first when it expires within the margin
   * (or always, with `force`: the API refused the stored one).
   *
   * @throws {AuthError} `not_signed_in`, `session_expired` (the session is then ended),
   *   `refresh_unavailable`, `provider_unreachable`, or the refresh's own error.
   * @throws the store's SessionStoreUnavailableError.
   */
  getAccessToken(id: string, options?: { force?: boolean }): Promise<AccessTokenLease>;
};

export const REFRESH_MARGIN_MS = 30_000;

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** The margin for a token: 30 s, or half its lifetime for tokens that live less than a minute. */
function marginFor(tokens: SessionTokens, marginMs: number): number {
  const { expires_at, refreshed_at } = tokens;
  if (expires_at === undefined || refreshed_at === undefined) return marginMs;
  return Math.min(marginMs, Math.max(0, (expires_at - refreshed_at) / 2));
}

function lease(tokens: SessionTokens, source: TokenSource): AccessTokenLease | undefined {
  if (tokens.access_token === undefined) return undefined;
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type ?? 'bearer',
    expires_at: tokens.expires_at,
    scope: tokens.scope,
    source,
  };
}

/**
 * The tokens after a refresh: the new access token, its expiry counted from when the request was
 * sent, and the new refresh token when the provider rotated it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 (expires_in, refresh_token)
 */
export function applyRefresh(
  previous: SessionTokens,
  refreshed: RefreshedTokens,
  sentAt: number,
): SessionTokens {
  const lifetime =
    typeof refreshed.expires_in === 'number' &&
    Number.isFinite(refreshed.expires_in) &&
    refreshed.expires_in > 0
      ? refreshed.expires_in
      : undefined;
  return {
    ...previous,
    access_token: refreshed.access_token,
    token_type: refreshed.token_type.toLowerCase(),
    // Without expires_in the expiry is unknown (undefined), and the token is not reused by later
    // calls: a guess could call the API with a dead token.
    expires_at: lifetime === undefined ? undefined : sentAt + lifetime * 1000,
    scope: refreshed.scope,
    refresh_token: refreshed.refresh_token ?? previous.refresh_token,
    refreshed_at: sentAt,
    refresh_count: (previous.refresh_count ?? 0) + 1,
  };
}

/** The user token manager over `options.store`. One per process. */
export function createUserTokens(options: UserTokenOptions): UserTokens {
  const { store, refresh } = options;
  const marginMs = options.marginMs ?? REFRESH_MARGIN_MS;
  const pollMs = options.pollMs ?? 50;
  const maxWaitMs = options.maxWaitMs ?? options.lockTtlMs * 2;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const inFlight = new Map<string, Promise<AccessTokenLease>>();

  async function readActive(id: string): Promise<{ record: SessionRecord; version: number }> {
    const stored = await store.get(id);
    if (stored?.state === 'ended') throw new AuthError('session_expired');
    if (!stored) throw new AuthError('not_signed_in');
    return stored;
  }

  function usable(tokens: SessionTokens, source: TokenSource): AccessTokenLease | undefined {
    return findUsableAccessToken(tokens, now(), marginFor(tokens, marginMs))
      ? lease(tokens, source)
      : undefined;
  }

  /**
   * @param seen the access token the caller found unusable (undefined: none yet); with `force`,
   *   it is read here.
   */
  async function refreshUnderLock(
    id: string,
    force: boolean,
    seen: string | undefined,
  ): Promise<AccessTokenLease> {
    const deadline = now() + maxWaitMs;
    // With `force`, only a token other than the one the caller found unusable will do.
    const looked = force ? (await readActive(id)).record.tokens.access_token : seen;
    const refused = force ? looked : undefined;
    /**
     * The token someone else stored while this call waited, if it will do: one good for more
     * than the margin, or one refreshed since this call looked whose lifetime the provider did
     * not state (RFC 6749 §5.1: expires_in is optional). Such a token is never kept for later
     * calls, but it is as new as any this call could get: refreshing again would make a second
     * grant for one burst of callers (and rotate the refresh token under the others).
     */
    const theirs = (tokens: SessionTokens, source: TokenSource) => {
      if (tokens.access_token === refused) return undefined;
      const fresh = usable(tokens, source);
      if (fresh) return fresh;
      return tokens.access_token !== looked && tokens.expires_at === undefined
        ? lease(tokens, source)
        : undefined;
    };
    let waited = false;
    for (;;) {
      const lock = await store.acquireLock(`refresh:${id}`, options.lockTtlMs);
      if (lock === undefined) {
        // Someone else (another instance, another bundle of this process) is refreshing.
        if (now() > deadline) {
          throw new AuthError('provider_unreachable', {
            detail: 'a refresh by another instance did not finish in time',
          });
        }
        await sleep(pollMs);
        waited = true;
        const { record } = await readActive(id);
        const taken = theirs(record.tokens, 'other_instance');
        if (taken) return taken;
        continue;
      }
      try {
        // Re-read under the lock: the previous holder may have refreshed already.
        const { record, version } = await readActive(id);
        const taken = theirs(record.tokens, waited ? 'other_instance' : 'store');
        if (taken) return taken;
        const sent = record.tokens.refresh_token;
        if (sent === undefined) throw new AuthError('refresh_unavailable');
        const sentAt = now();
        let refreshed: RefreshedTokens;
        try {
          refreshed = await refresh(sent, record.sub, record);
        } catch (err) {
          if (errorCode(err) !== 'session_expired') throw err;
          const after = await store.get(id);
          if (after?.state === 'active' && after.record.tokens.refresh_token !== sent) {
            // Rotated by someone else meanwhile (a lock that expired under a slow refresh):
            // not a reason to end the session; look again.
            log.warn('refresh lost a race; using the rotated tokens', { session: id.slice(0, 8) });
            continue;
          }
          await store.end(id, 'refresh_rejected');
          log.info('session ended: the provider refused its refresh token', {
            sub: record.sub,
            session: id.slice(0, 8),
          });
          throw err;
        }
        const tokens = applyRefresh(record.tokens, refreshed, sentAt);
        // MUST: a rotated refresh token that no session holds dies now (RFC 7009 §2). Not every
        // provider revokes the whole grant when the token it replaced is revoked.
        const revokeOrphan = async () => {
          const orphan = refreshed.refresh_token;
          if (orphan !== undefined && orphan !== sent && options.revoke)
            await options.revoke(orphan, record.sub).catch(() => undefined);
        };
        let stored: number | undefined;
        try {
          stored = await store.updateTokens(id, version, tokens);
        } catch (err) {
          // The store failed to keep the rotated token (unreachable, or it did not answer in
          // time): it dies, and this request fails (503). The session keeps the token this
          // refresh spent, so its next refresh is refused and ends it (sign in again). A store
          // that carries out the update late holds a revoked token: the same end.
          await revokeOrphan();
          throw err;
        }
        if (stored === undefined) {
          // Ended (logout, back-channel logout) while the refresh was in flight: the session
          // stays ended; the new tokens die with this request. The logout revoked the token it
          // found, which this refresh had just replaced.
          const after = await store.get(id);
          if (after?.state !== 'active') {
            await revokeOrphan();
            throw new AuthError('not_signed_in');
          }
          log.warn('session changed during a refresh; its tokens were not replaced', {
            session: id.slice(0, 8),
          });
        }
        const result = lease(tokens, 'refreshed');
        if (!result) throw new AuthError('invalid_token_response', { detail: 'no access token' });
        return {
          ...result,
          client_assertion: refreshed.client_assertion,
          dpop_proofs: refreshed.dpop_proofs,
        };
      } finally {
        await store.releaseLock(`refresh:${id}`, lock).catch(() => undefined);
      }
    }
  }

  return {
    async getAccessToken(id, { force = false } = {}) {
      let seen: string | undefined;
      if (!force) {
        const { record } = await readActive(id);
        const stored = usable(record.tokens, 'store');
        if (stored) return stored;
        seen = record.tokens.access_token;
      }
      const running = inFlight.get(id);
      if (running) {
        const shared = await running;
        return {
          ...shared,
          source: shared.source === 'refreshed' ? 'shared' : shared.source,
          client_assertion: undefined,
          dpop_proofs: undefined,
        };
      }
      const attempt = refreshUnderLock(id, force, seen);
      inFlight.set(id, attempt);
      const clear = () => {
        if (inFlight.get(id) === attempt) inFlight.delete(id);
      };
      attempt.then(clear, clear);
      return attempt;
    },
  };
}
