import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startRedisServer, type RedisServer } from '../e2e/support/redis-server';
import { createRedisSessionStore } from './redis-session-store';
import { ReplayStoreUnavailableError } from './replay-store';
import { createSessionReplayStore } from './replay-store-config';
import type { SessionStore } from './session-store';

/**
 * DPoP proof replay across app instances: two instances (two store clients) on one real
 * `redis-server`, started for the test on a free loopback port.
 */

let redis: RedisServer;
let a: SessionStore;
let b: SessionStore;

before(async () => {
  redis = await startRedisServer();
  a = createRedisSessionStore({ url: redis.url });
  b = createRedisSessionStore({ url: redis.url });
});

after(async () => {
  await a.close();
  await b.close();
  await redis.stop();
});

describe('the DPoP replay store on Redis', () => {
  it('a proof used on one instance is a replay on the other', async () => {
    const first = createSessionReplayStore(a);
    const second = createSessionReplayStore(b);
    assert.equal(await first.markUsed('jkt:jti-1', 70), true);
    assert.equal(await second.markUsed('jkt:jti-1', 70), false);
    assert.equal(await first.markUsed('jkt:jti-1', 70), false);
    assert.equal(await second.markUsed('jkt:jti-2', 70), true);
  });

  it('does not mix with the Logout Token jtis kept in the same memory', async () => {
    assert.equal(await a.rememberOnce('shared-id', Date.now() / 1000 + 70), true);
    assert.equal(await createSessionReplayStore(b).markUsed('shared-id', 70), true);
  });

  it('Redis unreachable: the store cannot decide, and says so (the API answers 503)', async () => {
    const down = createRedisSessionStore({ url: 'redis://127.0.0.1:9' });
    try {
      await assert.rejects(
        createSessionReplayStore(down).markUsed('jkt:jti-3', 70),
        ReplayStoreUnavailableError,
      );
    } finally {
      await down.close();
    }
  });
});
