import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createDeferredRedisStore } from './session-backend';

describe('createDeferredRedisStore', () => {
  it('a REDIS_URL the client refuses is no unhandled rejection; calls and loading report it', async () => {
    // The configuration refuses it at start; given here anyway, the store's client cannot use it.
    const url = 'redis://127.0.0.1:1/not-a-database';
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const deferred = createDeferredRedisStore(url);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(unhandled, [], 'the failed load is nobody’s unhandled rejection');
      await assert.rejects(deferred.loaded(), TypeError);
      await assert.rejects(deferred.store.ping(), TypeError);
    } finally {
      process.off('unhandledRejection', listener);
    }
  });
});
