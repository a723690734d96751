/**
 * Remembers one-time identifiers (a DPoP proof's `jti`) for as long as they could be replayed, so
 * that the second use of one is refused.
 *
 * Two implementations behind one small interface: in this process's memory (the default; one app
 * instance), or the session store's one-time memory when it is Redis (`REDIS_URL`), so that a
 * proof used on one instance is refused on every other (./replay-store-config.ts).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1 (DPoP proof replay)
 */

export type ReplayStore = {
  /**
   * Records `key` for `ttlSeconds`. Resolves true the first time a key is seen within its
   * lifetime, false when it was already there (a replay).
   *
   * @throws {ReplayStoreUnavailableError} when the store cannot decide (unreachable, full): the
   *   caller must refuse the request, never accept it unchecked.
   */
  markUsed(key: string, ttlSeconds: number): Promise<boolean>;
};

/** The store cannot say whether a key was seen: fail closed. */
export class ReplayStoreUnavailableError extends Error {
  readonly code = 'replay_store_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReplayStoreUnavailableError';
  }
}

/** Keys held at most, in memory. At a 70 s lifetime this is about 1,400 new proofs a second. */
export const MEMORY_REPLAY_STORE_MAX_KEYS = 100_000;

/**
 * A replay store in this process's memory. Keys expire in insertion order when every key has the
 * same lifetime, so expired ones are dropped from the front; a store full of live keys refuses to
 * decide rather than forget one (forgetting would let that proof be replayed).
 */
export function createMemoryReplayStore(
  options: { maxKeys?: number; now?: () => number } = {},
): ReplayStore & { readonly size: number } {
  const maxKeys = options.maxKeys ?? MEMORY_REPLAY_STORE_MAX_KEYS;
  const now = options.now ?? Date.now;
  const expiries = new Map<string, number>();
  const sweep = (time: number) => {
    for (const [key, expiresAt] of expiries) {
      if (expiresAt > time) break;
      expiries.delete(key);
    }
  };
  return {
    get size() {
      return expiries.size;
    },
    async markUsed(key, ttlSeconds) {
      const time = now();
      sweep(time);
      const existing = expiries.get(key);
      if (existing !== undefined && existing > time) return false;
      if (expiries.size >= maxKeys) {
        // A longer-lived key may sit in front of expired ones: sweep them all once.
        for (const [k, expiresAt] of expiries) if (expiresAt <= time) expiries.delete(k);
        if (expiries.size >= maxKeys)
          throw new ReplayStoreUnavailableError(`replay store full (${maxKeys} live keys)`);
      }
      expiries.set(key, time + ttlSeconds * 1000);
      return true;
    },
  };
}
