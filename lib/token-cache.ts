/**
 * One access token, cached until shortly before it expires, refreshed single-flight: however many
 * callers ask at once, at most one token request is in flight, and they all get its result.
 *
 * Kept free of OAuth and of openid-client (./client-credentials.ts supplies the request) so that
 * its timing rules can be tested with a fake clock.
 *
 * - The lifetime comes from the token response's `expires_in` (RFC 6749 §5.1), counted from when
 *   the request was sent, on a monotonic clock: a wall-clock jump neither keeps an expired token
 *   nor throws away a good one. The token itself is not read (to the client, an access token is
 *   opaque, RFC 9068 §6).
 * - It is replaced {@link REFRESH_MARGIN_SECONDS} before it expires (tokens that live less than
 *   twice that: at half their lifetime), so it never reaches the API in its last seconds, where
 *   clock differences and the time in transit could make the API see it expired.
 * - Without `expires_in` nothing is kept beyond the request in flight: a guess would either call
 *   the API with an expired token or gain nothing.
 * - A failed request is never cached: everyone waiting on it gets the error, the next call tries
 *   again.
 */

/** Where the token a caller got came from. */
export type TokenSource =
  /** This caller's call sent the token request. */
  | 'token_endpoint'
  /** Another caller's token request was in flight; this one waited for it. */
  | 'in_flight'
  /** The cached token, no request at all. */
  | 'cache';

export type FetchedToken<T> = {
  readonly token: T;
  /** `expires_in` of the token response, seconds; undefined when the provider sent none. */
  readonly expiresIn: number | undefined;
};

export type TokenLease<T> = {
  readonly token: T;
  readonly source: TokenSource;
  /** Wall-clock time the token request was sent, ms since the epoch. */
  readonly requestedAt: number;
  /** Wall-clock time the token expires, ms since the epoch (undefined: unknown). */
  readonly expiresAt: number | undefined;
  /** Wall-clock time after which this cache requests a new one. */
  readonly refreshAt: number;
};

export type TokenCache<T> = {
  /** The cached token, or a new one (single-flight). Rejects with the token request's error. */
  get(): Promise<TokenLease<T>>;
  /**
   * Drops `token` from the cache if it is still the cached one (an API refused it as
   * `invalid_token`); the next {@link TokenCache.get} requests a new token.
   */
  forget(token: T): void;
};

export type Clock = {
  /** Milliseconds on a monotonic clock (performance.now()). */
  monotonic(): number;
  /** Milliseconds since the epoch (Date.now()). */
  wall(): number;
};

export const REFRESH_MARGIN_SECONDS = 30;

const systemClock: Clock = { monotonic: () => performance.now(), wall: () => Date.now() };

type Entry<T> = Omit<TokenLease<T>, 'source'> & { readonly refreshAtMonotonic: number };

/**
 * Seconds after the request at which a token of this lifetime (`expires_in`) is replaced.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 (expires_in)
 */
export function computeRefreshDelay(expiresIn: number): number {
  return Math.max(expiresIn - REFRESH_MARGIN_SECONDS, expiresIn / 2);
}

/**
 * A single-flight cache around `request`, one token request per refresh.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 (expires_in)
 */
export function createTokenCache<T>(
  request: () => Promise<FetchedToken<T>>,
  clock: Clock = systemClock,
): TokenCache<T> {
  let cached: Entry<T> | undefined;
  let inFlight: Promise<Entry<T>> | undefined;

  const lease = (entry: Entry<T>, source: TokenSource): TokenLease<T> => ({
    token: entry.token,
    source,
    requestedAt: entry.requestedAt,
    expiresAt: entry.expiresAt,
    refreshAt: entry.refreshAt,
  });

  const refresh = (): Promise<Entry<T>> => {
    const sentMonotonic = clock.monotonic();
    const sentWall = clock.wall();
    const attempt = request().then(({ token, expiresIn }) => {
      const lifetime =
        typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
          ? expiresIn
          : undefined;
      const refreshIn = lifetime === undefined ? 0 : computeRefreshDelay(lifetime) * 1000;
      const entry: Entry<T> = {
        token,
        requestedAt: sentWall,
        expiresAt: lifetime === undefined ? undefined : sentWall + lifetime * 1000,
        refreshAt: sentWall + refreshIn,
        refreshAtMonotonic: sentMonotonic + refreshIn,
      };
      if (refreshIn > 0) cached = entry;
      return entry;
    });
    inFlight = attempt;
    // Cleared whatever the outcome: a failure must not stick (the next caller tries again).
    const clear = () => {
      if (inFlight === attempt) inFlight = undefined;
    };
    attempt.then(clear, clear);
    return attempt;
  };

  return {
    async get() {
      if (cached && clock.monotonic() < cached.refreshAtMonotonic) return lease(cached, 'cache');
      if (inFlight) return lease(await inFlight, 'in_flight');
      return lease(await refresh(), 'token_endpoint');
    },
    forget(token) {
      if (cached?.token === token) cached = undefined;
    },
  };
}
