import type Provider from 'oidc-provider';

/**
 * How long the bundled provider keeps a client's JWKS fetched from its `jwks_uri`.
 *
 * oidc-provider 9 keeps it until max(now + 60 s, now + Cache-Control max-age, Expires) and does
 * not refetch it earlier, even for an assertion signed with a `kid` it lacks
 * (`ClientKeyStore.refresh` in oidc-provider's lib/models/client.js: the 60 s floor is a constant
 * there, not a setting). This module makes the floor a setting,
 * `PROVIDER_CLIENT_JWKS_CACHE_FLOOR`: the provider keeps the JWKS until max(now + floor, max-age,
 * Expires). The default, 60, leaves oidc-provider's own rule untouched (nothing is installed).
 * A lower floor lets the client's `Cache-Control: max-age` decide, as a provider that honours it
 * would: the tests use it so that a key rotation waits seconds instead of a minute, with the app's
 * OIDC_CLIENT_JWKS_MAX_AGE (and so the key tool's publish-before-sign gate) set to match.
 */

/** oidc-provider's own floor, in seconds. */
export const OIDC_PROVIDER_CLIENT_JWKS_FLOOR_SECONDS = 60;

/** Seconds since the epoch, as oidc-provider counts them. */
function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** Until when a jwks_uri response may be kept, with `floorSeconds` as the floor. */
export function computeFreshUntil(headers: Headers, floorSeconds: number, nowMs: number): number {
  const now = epochSeconds(nowMs);
  const until = [now + floorSeconds];
  // The same reading of the headers as oidc-provider's.
  const maxAge = /max-age=(\d+)/.exec(headers.get('cache-control') ?? '');
  if (maxAge?.[1] !== undefined) until.push(now + Number.parseInt(maxAge[1], 10));
  const expires = Date.parse(headers.get('expires') ?? '');
  if (Number.isFinite(expires)) until.push(epochSeconds(expires));
  return Math.max(...until);
}

/**
 * The client JWKS cache with a floor of its own: the provider's outbound fetch hook reports each
 * jwks_uri response ({@link ClientJwksCache.observe}), and {@link ClientJwksCache.install} makes
 * the client's key store keep what was fetched until the time computed from it.
 */
export class ClientJwksCache {
  readonly #jwksUri: string;
  readonly #floorSeconds: number;
  #freshUntil: number | undefined;

  constructor(jwksUri: string, floorSeconds: number) {
    this.#jwksUri = new URL(jwksUri).href;
    this.#floorSeconds = floorSeconds;
  }

  /** Whether oidc-provider's own rule is changed at all. */
  get active(): boolean {
    return this.#floorSeconds !== OIDC_PROVIDER_CLIENT_JWKS_FLOOR_SECONDS;
  }

  /** Notes a response of the provider's outbound fetch; only the client's jwks_uri counts. */
  observe(url: URL, response: Response, nowMs = Date.now()): void {
    if (url.href !== this.#jwksUri) return;
    this.#freshUntil = computeFreshUntil(response.headers, this.#floorSeconds, nowMs);
  }

  /**
   * Makes the client's key store use this floor. oidc-provider's key store sets its own
   * `freshUntil` right after each fetch (the fetch this cache observed) and reads it to decide
   * whether to fetch again; the value it reads is the one computed here.
   */
  async install(provider: Provider, clientId: string): Promise<void> {
    if (!this.active) return;
    const client = await provider.Client.find(clientId);
    if (!client) throw new Error(`client ${clientId} is not registered`);
    const store = (client as unknown as { asymmetricKeyStore: object }).asymmetricKeyStore;
    let own: number | undefined;
    Object.defineProperty(store, 'freshUntil', {
      configurable: true,
      get: () => (own === undefined ? undefined : (this.#freshUntil ?? own)),
      set: (value: number | undefined) => {
        own = value;
      },
    });
  }
}
