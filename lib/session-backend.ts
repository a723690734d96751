import { describeRedisUrl, getConfig } from './config';
import { log } from './log';
import { processSingleton } from './process-slot';
import { createRedisSessionStore } from './redis-session-store';
import { createMemorySessionStore, type SessionStore } from './session-store';
import { refreshUserApiToken, revokeRefreshToken } from './token-refresh';
import { createUserTokens, type UserTokens } from './user-tokens';

/**
 * The process's one session store and one user-token manager, chosen by the configuration:
 * Redis when `REDIS_URL` is set, else this process's memory. One per process, not per Next.js
 * bundle (./process-slot.ts): a session created by the callback route must be visible to the
 * pages, and single flight must span every route of the process.
 */

/** The session store of this process. */
export function getSessionStore(): SessionStore {
  return processSingleton('session-store', () => {
    const { sessionStore } = getConfig();
    if (sessionStore.kind === 'redis') {
      log.info('sessions in Redis', { redis: describeRedisUrl(sessionStore.url) });
      return createRedisSessionStore({ url: sessionStore.url });
    }
    log.info(
      'sessions in memory: one instance only; a restart signs everyone out (set REDIS_URL to share and keep them)',
    );
    return createMemorySessionStore();
  });
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
