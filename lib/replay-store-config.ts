import { getConfig } from './config';
import { processSingleton } from './process-slot';
import {
  createMemoryReplayStore,
  ReplayStoreUnavailableError,
  type ReplayStore,
} from './replay-store';
import { getSessionStore } from './session-backend';
import { isSessionStoreUnavailable, type SessionStore } from './session-store';

/**
 * This app's replay store for DPoP proofs at its API: in this process's memory with the embedded
 * session store, and in Redis (the session store's `rememberOnce`, an atomic `SET … NX`) when
 * `REDIS_URL` is set, so that a proof accepted by one instance is a replay on every other.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export function getReplayStore(): ReplayStore {
  return processSingleton('dpop-replay-store', () =>
    getConfig().sessionStore.kind === 'redis'
      ? createSessionReplayStore(getSessionStore())
      : createMemoryReplayStore(),
  );
}

/**
 * A replay store over the session store's one-time memory, under a `dpop:` prefix (the same
 * memory keeps Logout Token `jti`s). A store that cannot be reached cannot decide: fail closed.
 */
export function createSessionReplayStore(
  store: Pick<SessionStore, 'rememberOnce'>,
  now: () => number = Date.now,
): ReplayStore {
  return {
    async markUsed(key, ttlSeconds) {
      try {
        return await store.rememberOnce(`dpop:${key}`, now() / 1000 + ttlSeconds);
      } catch (err) {
        if (isSessionStoreUnavailable(err))
          throw new ReplayStoreUnavailableError('session store unavailable', { cause: err });
        throw err;
      }
    },
  };
}
