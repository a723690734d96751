import { describeRedisUrl, getConfig } from './config';
import { log } from './log';
import { processSingleton } from './process-slot';
import { createMemorySessionStore, type SessionStore } from './session-store';
import { refreshUserApiToken, revokeRefreshToken } from './token-refresh';
import { createUserTokens, type UserTokens } from './user-tokens';

/**
 * The process's one session store and one user-token manager, chosen by the configuration:
 * Redis when `REDIS_URL` is set, else this process's memory. One per process, not per Next.js
 * bundle (./process-slot.ts): a session created by the callback route must be visible to the
 * pages, and single flight must span every route of the process.
 */

/**
 * The Redis store, its module (and the `ioredis` client library) loaded only when REDIS_URL asks
 * for it: without it the app starts sooner and holds less memory. The connection still starts at
 * once (./startup.ts loads the store when the server starts).
 *
 * `loaded` settles once the module is loaded and its client created: it rejects when the module
 * cannot load or the store refuses the URL (./config.ts, redisConnectionOptions, with which the
 * configuration refuses such a URL first, e.g. `redis://host/name`), so that startup stops with
 * that error as it did before the deferral.
 */
export function createDeferredRedisStore(url: string): {
  readonly store: SessionStore;
  readonly loaded: () => Promise<void>;
} {
  const loading = import('./redis-session-store').then((m) => m.createRedisSessionStore({ url }));
  // MUST: handled at once. Nobody may await it yet (startup only asks for the store), and an
  // unhandled rejection ends the process with a stack instead of startup's message; each call and
  // `loaded` still get the error.
  loading.catch(() => undefined);
  const store: SessionStore = {
    kind: 'redis',
    create: async (record, attachments) => (await loading).create(record, attachments),
    get: async (id) => (await loading).get(id),
    updateTokens: async (id, version, tokens) => (await loading).updateTokens(id, version, tokens),
    attach: async (id, name, value) => (await loading).attach(id, name, value),
    getAttachment: async (id, name) => (await loading).getAttachment(id, name),
    remove: async (id) => (await loading).remove(id),
    end: async (id, reason) => (await loading).end(id, reason),
    removeBySid: async (sid, sub) => (await loading).removeBySid(sid, sub),
    removeBySub: async (sub) => (await loading).removeBySub(sub),
    acquireLock: async (name, ttlMs) => (await loading).acquireLock(name, ttlMs),
    releaseLock: async (name, token) => (await loading).releaseLock(name, token),
    rememberOnce: async (jti, expiresAt) => (await loading).rememberOnce(jti, expiresAt),
    forgetOnce: async (jti) => (await loading).forgetOnce(jti),
    ping: async () => (await loading).ping(),
    close: async () => (await loading).close(),
  };
  return {
    store,
    loaded: async () => {
      await loading;
    },
  };
}

/** The process's store, and a way to wait until it is loaded (the Redis one loads lazily). */
function getStoreHandle(): { readonly store: SessionStore; readonly loaded: () => Promise<void> } {
  return processSingleton('session-store', () => {
    const { sessionStore } = getConfig();
    if (sessionStore.kind === 'redis') {
      log.info('sessions in Redis', { redis: describeRedisUrl(sessionStore.url) });
      return createDeferredRedisStore(sessionStore.url);
    }
    log.info(
      'sessions in memory: one instance only; a restart signs everyone out (set REDIS_URL to share and keep them)',
    );
    return { store: createMemorySessionStore(), loaded: async () => undefined };
  });
}

/** The session store of this process. */
export function getSessionStore(): SessionStore {
  return getStoreHandle().store;
}

/**
 * The session store of this process, once its module is loaded (./startup.ts).
 *
 * @throws what the Redis client throws on a REDIS_URL it refuses.
 */
export async function loadSessionStore(): Promise<SessionStore> {
  const { store, loaded } = getStoreHandle();
  await loaded();
  return store;
}

/** The user-token manager of this process (refresh single flight, rotation). */
export function getUserTokens(): UserTokens {
  return processSingleton('user-tokens', () =>
    createUserTokens({
      store: getSessionStore(),
      refresh: refreshUserApiToken,
      revoke: revokeRefreshToken,
      // Longer than a refresh can take (its request is bounded by OIDC_HTTP_TIMEOUT_MS; the
      // discovery it may need first, too), so that no one refreshes with a token the holder is
      // still rotating.
      lockTtlMs: getConfig().httpTimeoutMs * 2 + 5000,
    }),
  );
}
