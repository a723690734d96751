import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startRedisServer, type RedisServer } from '../e2e/support/redis-server';
import { AuthError } from './errors';
import { createRedisSessionStore } from './redis-session-store';
import type { SessionRecord } from './session-record';
import {
  createMemorySessionStore,
  createSessionId,
  isSessionStoreUnavailable,
  type SessionStore,
} from './session-store';
import { createUserTokens, type RefreshedTokens, type UserTokenOptions } from './user-tokens';

/**
 * The user's token manager: when it refreshes, that one refresh serves everyone, that rotation
 * races never end a session, and that only a genuine refusal does. A fake clock drives the
 * timing rules; the provider is scripted to behave like oidc-provider with rotation on (a reused
 * refresh token is refused and revokes the whole grant); the cross-instance cases also run on a
 * real redis-server.
 */

type FakeClock = {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  advance(ms: number): void;
};

function createFakeClock(start = 1_900_000_000_000): FakeClock {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
    async sleep(ms) {
      t += ms;
      await new Promise((r) => setTimeout(r, 1));
    },
  };
}

/** A provider with refresh-token rotation and reuse detection, counting its grants. */
function createRotatingProvider(options: { latencyMs?: number; expiresIn?: number | 'none' } = {}) {
  let current = 'rt-0';
  let issued = 0;
  let revoked = false;
  let down = false;
  const grants: string[] = [];
  return {
    grants,
    get current() {
      return current;
    },
    revoke() {
      revoked = true;
    },
    setDown(value: boolean) {
      down = value;
    },
    async refresh(refreshToken: string): Promise<RefreshedTokens> {
      grants.push(refreshToken);
      await new Promise((r) => setTimeout(r, options.latencyMs ?? 5));
      if (down) throw Object.assign(new TypeError('fetch failed'), { code: 'ECONNREFUSED' });
      if (revoked || refreshToken !== current) {
        // oidc-provider: a consumed refresh token presented again revokes the grant.
        revoked = true;
        throw new AuthError('session_expired', { error: 'invalid_grant' });
      }
      issued += 1;
      current = `rt-${issued}`;
      return {
        access_token: `at-${issued}`,
        token_type: 'Bearer',
        expires_in: options.expiresIn === 'none' ? undefined : (options.expiresIn ?? 300),
        refresh_token: current,
        scope: 'api1',
      };
    },
  };
}

function makeRecord(now: number): SessionRecord {
  return {
    id: createSessionId(),
    sub: 'alice',
    sid: 'op-sid',
    created_at: now,
    expires_at: now + 8 * 3600_000,
    user: { sub: 'alice', signed_in_at: Math.floor(now / 1000) },
    tokens: { refresh_token: 'rt-0' },
  };
}

function manager(
  store: SessionStore,
  provider: ReturnType<typeof createRotatingProvider>,
  clock?: FakeClock,
  extra: Partial<UserTokenOptions> = {},
) {
  return createUserTokens({
    store,
    refresh: (rt) => provider.refresh(rt),
    lockTtlMs: 2000,
    ...(clock ? { now: clock.now, sleep: clock.sleep } : {}),
    ...extra,
  });
}

describe('user tokens (memory store, fake clock)', () => {
  it('gets the API token lazily, reuses it, and refreshes it 30 s before it expires', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider();
    const tokens = manager(store, provider, clock);
    const record = makeRecord(clock.now());
    await store.create(record);

    const first = await tokens.getAccessToken(record.id);
    assert.equal(first.source, 'refreshed');
    assert.equal(first.access_token, 'at-1');
    assert.equal(first.token_type, 'bearer');
    assert.equal(first.expires_at, clock.now() + 300_000);

    clock.advance(269_000);
    assert.equal((await tokens.getAccessToken(record.id)).source, 'store', '31 s left: reused');
    clock.advance(2_000);
    const renewed = await tokens.getAccessToken(record.id);
    assert.equal(renewed.source, 'refreshed', '29 s left: refreshed first');
    assert.equal(renewed.access_token, 'at-2');
    const stored = await store.get(record.id);
    assert.ok(stored?.state === 'active');
    assert.equal(stored.record.tokens.refresh_token, 'rt-2', 'the rotated refresh token is kept');
    assert.deepEqual(provider.grants, ['rt-0', 'rt-1']);
  });

  it('refreshes short-lived tokens at half their lifetime, not on every call', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider({ expiresIn: 20 });
    const tokens = manager(store, provider, clock);
    const record = makeRecord(clock.now());
    await store.create(record);
    await tokens.getAccessToken(record.id);
    clock.advance(9_000);
    assert.equal((await tokens.getAccessToken(record.id)).source, 'store');
    clock.advance(1_500);
    assert.equal((await tokens.getAccessToken(record.id)).source, 'refreshed');
  });

  it('sends one refresh grant for 20 concurrent calls of one session', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider({ latencyMs: 20 });
    const tokens = manager(store, provider, clock);
    const record = makeRecord(clock.now());
    await store.create(record);
    const leases = await Promise.all(
      Array.from({ length: 20 }, () => tokens.getAccessToken(record.id)),
    );
    assert.equal(provider.grants.length, 1);
    assert.ok(leases.every((l) => l.access_token === 'at-1'));
    assert.equal(leases.filter((l) => l.source === 'refreshed').length, 1);
    assert.equal(leases.filter((l) => l.source === 'shared').length, 19);
  });

  it('sends one refresh grant for two instances racing on one store; the loser takes the rotated tokens', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider({ latencyMs: 30 });
    // The fake clock moves only while the loser polls; the lock must outlive those polls.
    const one = manager(store, provider, clock, { lockTtlMs: 60_000 });
    const two = manager(store, provider, clock, { lockTtlMs: 60_000 });
    const record = makeRecord(clock.now());
    await store.create(record);
    const leases = await Promise.all([
      ...Array.from({ length: 10 }, () => one.getAccessToken(record.id)),
      ...Array.from({ length: 10 }, () => two.getAccessToken(record.id)),
    ]);
    assert.deepEqual(provider.grants, ['rt-0'], 'exactly one refresh grant');
    assert.ok(leases.every((l) => l.access_token === 'at-1'));
    assert.ok(leases.some((l) => l.source === 'other_instance'));
    const stored = await store.get(record.id);
    assert.ok(stored?.state === 'active' && stored.record.tokens.refresh_token === 'rt-1');
  });

  it('sends one refresh grant for two instances racing when the provider sends no expires_in', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    // RFC 6749 §5.1: expires_in is only RECOMMENDED. The token is then not kept for later calls,
    // but callers that were waiting for the refresh another instance was making take its token.
    const provider = createRotatingProvider({ latencyMs: 30, expiresIn: 'none' });
    const one = manager(store, provider, clock, { lockTtlMs: 60_000 });
    const two = manager(store, provider, clock, { lockTtlMs: 60_000 });
    const record = makeRecord(clock.now());
    await store.create(record);
    const leases = await Promise.all([
      ...Array.from({ length: 10 }, () => one.getAccessToken(record.id)),
      ...Array.from({ length: 10 }, () => two.getAccessToken(record.id)),
    ]);
    assert.deepEqual(provider.grants, ['rt-0'], 'exactly one refresh grant');
    assert.ok(leases.every((l) => l.access_token === 'at-1'));
    assert.ok(leases.some((l) => l.source === 'other_instance'));
    assert.ok(
      leases.every((l) => l.expires_at === undefined),
      'the expiry is unknown, not now',
    );
    // A later call does not reuse a token of unknown lifetime: it refreshes.
    assert.equal((await one.getAccessToken(record.id)).source, 'refreshed');
    assert.deepEqual(provider.grants, ['rt-0', 'rt-1']);
  });

  it('takes over when the instance holding the refresh lock died (the lock expires)', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider();
    const tokens = manager(store, provider, clock, { lockTtlMs: 1000, maxWaitMs: 5000 });
    const record = makeRecord(clock.now());
    await store.create(record);
    // A crashed instance: took the lock and never released it.
    assert.ok(await store.acquireLock(`refresh:${record.id}`, 1000));
    const lease = await tokens.getAccessToken(record.id);
    assert.equal(lease.access_token, 'at-1');
    assert.ok(clock.now() >= 1_900_000_001_000, 'waited for the lock to expire');
  });

  it('answers provider_unreachable when another refresh never finishes, and keeps the session', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider();
    const tokens = manager(store, provider, clock, { lockTtlMs: 60_000, maxWaitMs: 1000 });
    const record = makeRecord(clock.now());
    await store.create(record);
    assert.ok(await store.acquireLock(`refresh:${record.id}`, 60_000));
    await assert.rejects(
      tokens.getAccessToken(record.id),
      (err: unknown) => err instanceof AuthError && err.code === 'provider_unreachable',
    );
    assert.equal((await store.get(record.id))?.state, 'active');
    assert.equal(provider.grants.length, 0);
  });

  it('does not end the session when its refresh token was rotated by someone else meanwhile', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const record = makeRecord(clock.now());
    await store.create(record);
    // A provider with a grace period: the old refresh token is refused without revoking the grant,
    // and by the time the refusal arrives another instance has stored the rotated tokens (its
    // lock expired under a slow request).
    const grants: string[] = [];
    const tokens = createUserTokens({
      store,
      lockTtlMs: 1000,
      now: clock.now,
      sleep: clock.sleep,
      refresh: async (rt) => {
        grants.push(rt);
        if (rt === 'rt-0') {
          const read = await store.get(record.id);
          assert.ok(read?.state === 'active');
          await store.updateTokens(record.id, read.version, {
            refresh_token: 'rt-1',
            access_token: 'at-other',
            token_type: 'bearer',
            expires_at: clock.now() + 300_000,
            refreshed_at: clock.now(),
          });
          throw new AuthError('session_expired', { error: 'invalid_grant' });
        }
        throw new Error('not expected');
      },
    });
    const lease = await tokens.getAccessToken(record.id);
    assert.equal(lease.access_token, 'at-other');
    assert.deepEqual(grants, ['rt-0']);
    assert.equal((await store.get(record.id))?.state, 'active');
  });

  it('ends the session on invalid_grant for its current refresh token, and says why afterwards', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider();
    const tokens = manager(store, provider, clock);
    const record = makeRecord(clock.now());
    await store.create(record);
    provider.revoke();
    await assert.rejects(
      tokens.getAccessToken(record.id),
      (err: unknown) => err instanceof AuthError && err.code === 'session_expired',
    );
    assert.deepEqual(await store.get(record.id), { state: 'ended', reason: 'refresh_rejected' });
    await assert.rejects(
      tokens.getAccessToken(record.id),
      (err: unknown) => err instanceof AuthError && err.code === 'session_expired',
    );
    assert.equal(provider.grants.length, 1, 'an ended session sends nothing more');
  });

  it('keeps the session when the provider is down, and refreshes once it is back', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider();
    const tokens = manager(store, provider, clock);
    const record = makeRecord(clock.now());
    await store.create(record);
    provider.setDown(true);
    await assert.rejects(
      tokens.getAccessToken(record.id),
      (err: unknown) => err instanceof TypeError,
    );
    const kept = await store.get(record.id);
    assert.ok(kept?.state === 'active' && kept.record.tokens.refresh_token === 'rt-0');
    provider.setDown(false);
    assert.equal((await tokens.getAccessToken(record.id)).access_token, 'at-1');
  });

  it('does not bring back a session ended while its refresh was in flight', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const record = makeRecord(clock.now());
    await store.create(record);
    const tokens = createUserTokens({
      store,
      lockTtlMs: 1000,
      now: clock.now,
      sleep: clock.sleep,
      refresh: async () => {
        await store.removeBySid('op-sid'); // a back-channel logout arrives meanwhile
        return {
          access_token: 'at-1',
          token_type: 'Bearer',
          expires_in: 300,
          refresh_token: 'rt-1',
        };
      },
    });
    await assert.rejects(
      tokens.getAccessToken(record.id),
      (err: unknown) => err instanceof AuthError && err.code === 'not_signed_in',
    );
    assert.equal(await store.get(record.id), undefined);
  });

  it('revokes the rotated refresh token of a session signed out while its refresh was in flight', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const record = makeRecord(clock.now());
    await store.create(record);
    const revoked: string[] = [];
    const tokens = createUserTokens({
      store,
      lockTtlMs: 1000,
      now: clock.now,
      sleep: clock.sleep,
      refresh: async (rt) => {
        // The user signs out meanwhile: the logout deletes the record and revokes the token it
        // found (rt-0, which this refresh is replacing).
        const removed = await store.remove(record.id);
        if (removed?.tokens.refresh_token) revoked.push(removed.tokens.refresh_token);
        assert.equal(rt, 'rt-0');
        return {
          access_token: 'at-1',
          token_type: 'Bearer',
          expires_in: 300,
          refresh_token: 'rt-1',
        };
      },
      revoke: async (rt, sub) => {
        assert.equal(sub, 'alice');
        revoked.push(rt);
      },
    });
    await assert.rejects(
      tokens.getAccessToken(record.id),
      (err: unknown) => err instanceof AuthError && err.code === 'not_signed_in',
    );
    // Both the token the logout found and the one the provider rotated to: no refresh token of
    // the ended session is left alive at a provider that revokes tokens one by one.
    assert.deepEqual(revoked, ['rt-0', 'rt-1']);
    assert.equal(await store.get(record.id), undefined);
  });

  it('refreshes on demand (force) when the API refused the stored token', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider();
    const tokens = manager(store, provider, clock);
    const record = makeRecord(clock.now());
    await store.create(record);
    await tokens.getAccessToken(record.id);
    const forced = await tokens.getAccessToken(record.id, { force: true });
    assert.equal(forced.access_token, 'at-2');
    assert.equal(forced.source, 'refreshed');
  });

  it('says refresh_unavailable when the provider issued no refresh token', async () => {
    const clock = createFakeClock();
    const store = createMemorySessionStore({ now: clock.now });
    const provider = createRotatingProvider();
    const tokens = manager(store, provider, clock);
    const record = { ...makeRecord(clock.now()), tokens: {} };
    await store.create(record);
    await assert.rejects(
      tokens.getAccessToken(record.id),
      (err: unknown) => err instanceof AuthError && err.code === 'refresh_unavailable',
    );
    assert.equal((await store.get(record.id))?.state, 'active');
  });
});

describe('user tokens on a real Redis: lost while a refresh is in flight', () => {
  it('revokes the rotated refresh token it could not store; the session ends on its next refresh', async () => {
    // Redis goes down after the provider rotated the refresh token and before the store kept it:
    // the new token is held by no session, the session's own is spent.
    const server = await startRedisServer({ persist: true });
    const store = createRedisSessionStore({ url: server.url });
    try {
      const provider = createRotatingProvider();
      const revoked: string[] = [];
      const tokens = createUserTokens({
        store,
        // Its lock outlives the outage (the release failed); short, so the next refresh soon runs.
        lockTtlMs: 300,
        refresh: async (rt) => {
          const refreshed = await provider.refresh(rt);
          await server.stop();
          return refreshed;
        },
        revoke: async (rt, sub) => {
          assert.equal(sub, 'alice');
          revoked.push(rt);
        },
      });
      const record = makeRecord(Date.now());
      await store.create(record);
      await assert.rejects(tokens.getAccessToken(record.id), (err: unknown) =>
        isSessionStoreUnavailable(err),
      );
      assert.deepEqual(revoked, ['rt-1'], 'the token the store did not keep is revoked');
      await server.start();
      const kept = await store.get(record.id);
      assert.ok(kept?.state === 'active');
      assert.equal(
        kept.record.tokens.refresh_token,
        'rt-0',
        'the session still holds the spent one',
      );
      // Its next refresh presents the spent token: refused, and the session ends (sign in again).
      const later = manager(store, provider);
      await assert.rejects(
        later.getAccessToken(record.id),
        (err: unknown) => err instanceof AuthError && err.code === 'session_expired',
      );
      assert.deepEqual(await store.get(record.id), { state: 'ended', reason: 'refresh_rejected' });
    } finally {
      await store.close();
      await server.remove();
    }
  });

  it('revokes nothing when the provider did not rotate: the session keeps a refresh token that works', async () => {
    const server = await startRedisServer({ persist: true });
    const store = createRedisSessionStore({ url: server.url });
    try {
      const revoked: string[] = [];
      const tokens = createUserTokens({
        store,
        lockTtlMs: 2000,
        refresh: async (rt) => {
          await server.stop();
          return { access_token: 'at-1', token_type: 'Bearer', expires_in: 300, refresh_token: rt };
        },
        revoke: async (rt) => {
          revoked.push(rt);
        },
      });
      const record = makeRecord(Date.now());
      await store.create(record);
      await assert.rejects(tokens.getAccessToken(record.id), (err: unknown) =>
        isSessionStoreUnavailable(err),
      );
      assert.deepEqual(revoked, []);
    } finally {
      await store.close();
      await server.remove();
    }
  });
});

describe('user tokens on a real Redis: two instances', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedisServer();
  });
  after(() => redis.stop());

  it('two instances, 20 concurrent calls at expiry: one refresh grant, rotation kept', async () => {
    const storeOne = createRedisSessionStore({ url: redis.url });
    const storeTwo = createRedisSessionStore({ url: redis.url });
    try {
      const provider = createRotatingProvider({ latencyMs: 40, expiresIn: 300 });
      const one = manager(storeOne, provider, undefined, { pollMs: 10 });
      const two = manager(storeTwo, provider, undefined, { pollMs: 10 });
      const record = makeRecord(Date.now());
      await storeOne.create(record);
      for (let round = 1; round <= 3; round++) {
        const leases = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? one : two).getAccessToken(record.id, { force: round > 1 && i === 0 }),
          ),
        );
        assert.ok(leases.every((l) => l.access_token.startsWith('at-')));
      }
      // Round 1: the lazy first token; rounds 2 and 3: one forced refresh each.
      assert.equal(provider.grants.length, 3, `grants: ${provider.grants.join(', ')}`);
      assert.deepEqual(provider.grants, ['rt-0', 'rt-1', 'rt-2'], 'never a reused refresh token');
      const stored = await storeTwo.get(record.id);
      assert.ok(stored?.state === 'active');
      assert.equal(stored.record.tokens.refresh_token, provider.current);
    } finally {
      await storeOne.close();
      await storeTwo.close();
    }
  });
});
