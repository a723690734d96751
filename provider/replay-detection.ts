import type Provider from 'oidc-provider';

/**
 * The bundled provider's memory of the `jti`s it has accepted: client assertions (RFC 7523 §3
 * item 7) and DPoP proofs (RFC 9449 §11.1), each kept until the JWT it came from expires.
 *
 * oidc-provider keeps them as `ReplayDetection` records in its adapter, and its default adapter
 * is an LRU holding 1,000 to 2,000 records of every kind together (sessions, interactions, codes,
 * tokens): anyone who starts authorization requests (an Interaction record each, no
 * authentication needed) pushes the `jti`s out within seconds, and an assertion seen once is
 * then accepted again before it expires. Here they have a store of their own that forgets a
 * `jti` only once its JWT has expired. It grows only with what authenticated clients send:
 * oidc-provider records a `jti` after the signature (and, for an assertion, this provider's
 * checks, which cap `exp` at 300 s ahead) has been verified.
 */
export class SeenJtis {
  /** `[iss, jti]` as JSON (no concatenation ambiguity) → when it may be forgotten, ms. */
  readonly #seen = new Map<string, number>();
  /** Size that triggers the next sweep of expired entries (amortized O(1) per claim). */
  #sweepAt = 1024;

  /**
   * Records `jti` from `iss` until `exp` (seconds since the epoch).
   *
   * @returns false when it was already seen and has not expired: a replay.
   */
  claim(iss: string, jti: string, exp: number, nowMs = Date.now()): boolean {
    const key = JSON.stringify([iss, jti]);
    const until = this.#seen.get(key);
    if (until !== undefined && until > nowMs) return false;
    this.#seen.set(key, exp * 1000);
    if (this.#seen.size >= this.#sweepAt) this.#sweep(nowMs);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #sweep(nowMs: number): void {
    for (const [key, until] of this.#seen) if (until <= nowMs) this.#seen.delete(key);
    this.#sweepAt = Math.max(1024, this.#seen.size * 2);
  }
}

/**
 * Makes `provider` detect replays with a {@link SeenJtis} of its own instead of its adapter.
 * oidc-provider calls `ReplayDetection.unique(iss, jti, exp)` for every client assertion and DPoP
 * proof it accepts; nothing else reads those records.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3 (item 7: a jti never reused)
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export function installReplayDetection(provider: Provider, seen = new SeenJtis()): SeenJtis {
  provider.ReplayDetection.unique = async (iss, jti, exp) => seen.claim(iss, jti, exp);
  return seen;
}
