import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Redis } from 'ioredis';

import { startRedisServer, type RedisServer } from '../e2e/support/redis-server';
import { redisConnectionOptions } from './config';
import { createRedisSessionStore } from './redis-session-store';
import { isStoreDown, reportStoreSuccess } from './store-health';
import type { SessionRecord } from './session-record';
import {
  createMemorySessionStore,
  createSessionId,
  isSessionStoreUnavailable,
  type SessionStore,
} from './session-store';

/**
 * The session store contract, run against both implementations: this process's memory and a real
 * `redis-server` started for the test on a free loopback port (no mock).
 */

function makeRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  const sub = overrides.sub ?? 'alice';
  return {
    id: createSessionId(),
    sub,
    sid: 'op-session-1',
    created_at: now,
    expires_at: now + 60_000,
    user: { sub, signed_in_at: Math.floor(now / 1000), id_token: 'header.payload.signature' },
    tokens: { refresh_token: 'rt-0' },
    ...overrides,
  };
}

/**
 * Runs `fn` with a store on a redis-server of its own (started for it, stopped after), and a raw
 * client of that server to look at what the store wrote. `db`: the store's database number.
 */
async function withOwnRedis(
  fn: (own: { server: RedisServer; store: SessionStore; raw: Redis }) => Promise<void>,
  options: { db?: number } = {},
): Promise<void> {
  const server = await startRedisServer();
  const url = options.db === undefined ? server.url : `${server.url}/${options.db}`;
  const store = createRedisSessionStore({ url });
  const raw = new Redis(server.url);
  try {
    await fn({ server, store, raw });
  } finally {
    await raw.quit();
    await store.close();
    await server.stop();
  }
}

let redis: RedisServer;
const stores: Array<{ name: string; open: () => SessionStore }> = [
  { name: 'memory', open: () => createMemorySessionStore() },
  { name: 'redis', open: () => createRedisSessionStore({ url: redis.url }) },
];

before(async () => {
  redis = await startRedisServer();
});
after(async () => {
  await redis.stop();
});

for (const { name, open } of stores) {
  describe(`session store: ${name}`, () => {
    let store: SessionStore;
    before(() => {
      store = open();
    });
    after(() => store.close());

    it('answers a ping, changing nothing', async () => {
      // A user and sid of its own: the other tests share this store.
      const record = makeRecord({ sub: 'ping-user', sid: 'ping-sid' });
      await store.create(record);
      await store.ping();
      assert.deepEqual(await store.get(record.id), { state: 'active', record, version: 1 });
      assert.deepEqual(await store.remove(record.id), record);
    });

    it('stores, reads and deletes a session', async () => {
      const record = makeRecord();
      await store.create(record);
      const stored = await store.get(record.id);
      assert.equal(stored?.state, 'active');
      assert.deepEqual(stored?.state === 'active' && stored.record, record);
      assert.deepEqual(await store.remove(record.id), record);
      assert.equal(await store.get(record.id), undefined);
      assert.equal(await store.remove(record.id), undefined);
    });

    it('keeps attachments with the session: not read with it, kept across a refresh, ended with it', async () => {
      const record = makeRecord({ sub: 'attach-user', sid: 'attach-sid' });
      await store.create(record, { 'flow-signin': '{"kind":"sign-in"}' });
      assert.equal(await store.getAttachment(record.id, 'flow-signin'), '{"kind":"sign-in"}');
      assert.equal(await store.getAttachment(record.id, 'flow-cc'), undefined);
      // Reading the session returns the record only, as before attachments existed.
      assert.deepEqual(await store.get(record.id), { state: 'active', record, version: 1 });

      assert.equal(await store.attach(record.id, 'flow-cc', 'cc-1'), true);
      assert.equal(await store.attach(record.id, 'flow-cc', 'cc-2'), true, 'replaces');
      assert.equal(await store.getAttachment(record.id, 'flow-cc'), 'cc-2');
      assert.equal(await store.updateTokens(record.id, 1, { refresh_token: 'rt-1' }), 2);
      assert.equal(await store.getAttachment(record.id, 'flow-signin'), '{"kind":"sign-in"}');
      assert.equal(await store.getAttachment(record.id, 'flow-cc'), 'cc-2');

      await store.end(record.id, 'refresh_rejected');
      assert.equal(await store.getAttachment(record.id, 'flow-signin'), undefined);
      assert.equal(await store.attach(record.id, 'flow-cc', 'late'), false, 'an ended session');
      assert.equal(await store.getAttachment(record.id, 'flow-cc'), undefined);
      assert.deepEqual(await store.get(record.id), { state: 'ended', reason: 'refresh_rejected' });

      const other = makeRecord({ sub: 'attach-user', sid: 'attach-sid' });
      await store.create(other, { 'flow-signin': 'x' });
      await store.remove(other.id);
      assert.equal(await store.getAttachment(other.id, 'flow-signin'), undefined);
      assert.equal(await store.attach(other.id, 'flow-signin', 'late'), false, 'a removed session');
      assert.equal(await store.get(other.id), undefined, 'a late attachment makes no session');
      await store.create(other);
      assert.equal(await store.getAttachment(other.id, 'flow-signin'), undefined, 'a new life');
      await store.remove(other.id);
    });

    it('replaces tokens only when the version is the one read (compare-and-set)', async () => {
      const record = makeRecord();
      await store.create(record);
      const read = await store.get(record.id);
      assert.ok(read?.state === 'active');
      const v2 = await store.updateTokens(record.id, read.version, { refresh_token: 'rt-1' });
      assert.equal(v2, read.version + 1);
      // A second writer that read the same version loses: the rotated token stays.
      assert.equal(
        await store.updateTokens(record.id, read.version, { refresh_token: 'rt-stale' }),
        undefined,
      );
      const now = await store.get(record.id);
      assert.ok(now?.state === 'active');
      assert.equal(now.record.tokens.refresh_token, 'rt-1');
      assert.equal(now.version, v2);
      await store.remove(record.id);
      assert.equal(
        await store.updateTokens(record.id, now.version, { refresh_token: 'x' }),
        undefined,
      );
      assert.equal(await store.get(record.id), undefined, 'no resurrection by a late update');
    });

    it('ends sessions by provider sid and by sub, on every session of them', async () => {
      const a1 = makeRecord({ sid: 'sid-A' });
      const a2 = makeRecord({ sid: 'sid-A' });
      const b = makeRecord({ sid: 'sid-B' });
      const bob = makeRecord({ sub: 'bob', sid: 'sid-C' });
      for (const r of [a1, a2, b, bob]) await store.create(r);
      const bySid = await store.removeBySid('sid-A');
      assert.deepEqual(bySid.map((r) => r.id).sort(), [a1.id, a2.id].sort());
      assert.equal(await store.get(a1.id), undefined);
      assert.equal((await store.get(b.id))?.state, 'active');
      assert.deepEqual(await store.removeBySid('sid-A'), [], 'nothing left to end');
      const bySub = await store.removeBySub('alice');
      assert.deepEqual(
        bySub.map((r) => r.id),
        [b.id],
      );
      assert.equal((await store.get(bob.id))?.state, 'active', 'another user is untouched');
      await store.remove(bob.id);
    });

    it('ends the sessions of a sid of one user only, when the sub is given too', async () => {
      const alice = makeRecord({ sub: 'both-alice', sid: 'sid-both' });
      const mallory = makeRecord({ sub: 'both-mallory', sid: 'sid-both' });
      for (const r of [alice, mallory]) await store.create(r);
      assert.deepEqual(await store.removeBySid('sid-both', 'both-bob'), [], 'no session of bob');
      assert.deepEqual(
        (await store.removeBySid('sid-both', 'both-alice')).map((r) => r.id),
        [alice.id],
      );
      assert.equal(await store.get(alice.id), undefined);
      assert.equal((await store.get(mallory.id))?.state, 'active', 'another user is untouched');
      assert.deepEqual(
        (await store.removeBySid('sid-both')).map((r) => r.id),
        [mallory.id],
        'the sid alone ends what is left of it',
      );
    });

    it('keeps why a session ended, and nothing else', async () => {
      const record = makeRecord();
      await store.create(record);
      assert.deepEqual(await store.end(record.id, 'refresh_rejected'), record);
      assert.deepEqual(await store.get(record.id), { state: 'ended', reason: 'refresh_rejected' });
      assert.equal(await store.updateTokens(record.id, 1, { refresh_token: 'x' }), undefined);
      assert.deepEqual(await store.removeBySub(record.sub), []);
    });

    it('lets one owner hold a lock until it releases it or it expires', async () => {
      // Locks that must stay held live far longer than the test (a slow store or a busy machine
      // must not expire them between two steps); only the one meant to expire is short.
      const HELD_MS = 30_000;
      const name = `refresh:${createSessionId()}`;
      const token = await store.acquireLock(name, HELD_MS);
      assert.ok(token);
      assert.equal(await store.acquireLock(name, HELD_MS), undefined);
      await store.releaseLock(name, 'not-the-owner');
      assert.equal(await store.acquireLock(name, HELD_MS), undefined, 'only the owner releases');
      await store.releaseLock(name, token);
      const second = await store.acquireLock(name, 150);
      assert.ok(second);
      await new Promise((r) => setTimeout(r, 250));
      const third = await store.acquireLock(name, HELD_MS);
      assert.ok(third, 'an expired lock is free');
      await store.releaseLock(name, second);
      assert.equal(
        await store.acquireLock(name, HELD_MS),
        undefined,
        'a late release frees nothing',
      );
      await store.releaseLock(name, third);
      assert.ok(await store.acquireLock(name, 150), 'the owner’s release frees it');
    });

    it('remembers a jti once (replay)', async () => {
      const jti = createSessionId();
      const exp = Math.floor(Date.now() / 1000) + 120;
      assert.equal(await store.rememberOnce(jti, exp), true);
      assert.equal(await store.rememberOnce(jti, exp), false);
      assert.equal(await store.rememberOnce(createSessionId(), exp), true);
    });

    it('remembers a jti until the time given on this instance’s clock, whatever the server’s', async () => {
      // This instance's clock runs 25 s behind the store's (an app host that learned the
      // provider's offset, on a Redis host with a correct clock): a jti to be kept 20 s by this
      // clock must not be forgotten at once.
      const realNow = Date.now;
      Date.now = () => realNow() - 25_000;
      try {
        const jti = createSessionId();
        const until = Math.floor(Date.now() / 1000) + 20;
        assert.equal(await store.rememberOnce(jti, until), true);
        assert.equal(await store.rememberOnce(jti, until), false, 'a replay is still refused');
      } finally {
        Date.now = realNow;
      }
    });

    it('forgets a jti on request (a logout to be retried), and only that one', async () => {
      const [jti, other] = [createSessionId(), createSessionId()];
      const exp = Math.floor(Date.now() / 1000) + 120;
      await store.rememberOnce(jti, exp);
      await store.rememberOnce(other, exp);
      await store.forgetOnce(jti);
      assert.equal(await store.rememberOnce(jti, exp), true);
      assert.equal(await store.rememberOnce(other, exp), false);
    });

    it('drops a session when it expires', async () => {
      // A second to live: a slow store or a busy machine must not expire it before the first read.
      const record = makeRecord({ expires_at: Date.now() + 1000 });
      await store.create(record);
      assert.equal((await store.get(record.id))?.state, 'active');
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(await store.get(record.id), undefined);
    });
  });
}

describe('redisConnectionOptions', () => {
  it('takes scheme, credentials, host, port and database from REDIS_URL', () => {
    assert.deepEqual(redisConnectionOptions('rediss://us%40er:p%3Ass@cache.example.com:6380/2'), {
      host: 'cache.example.com',
      port: 6380,
      username: 'us@er',
      password: 'p:ss',
      db: 2,
      tls: {},
    });
    assert.deepEqual(redisConnectionOptions('redis://[::1]'), { host: '::1', port: 6379 });
    assert.deepEqual(redisConnectionOptions('redis://:secret@127.0.0.1:7000/'), {
      host: '127.0.0.1',
      port: 7000,
      password: 'secret',
    });
  });

  it('MUST: TLS for rediss: in any case, as the configuration reads it', () => {
    // ioredis's own parsing turns TLS on for a lower-case `rediss://` only.
    assert.deepEqual(redisConnectionOptions('REDISS://cache.example.com').tls, {});
    assert.equal(redisConnectionOptions('Redis://cache.example.com').tls, undefined);
  });

  it('MUST: no client option from the query (ioredis would take them over its own)', () => {
    assert.deepEqual(
      redisConnectionOptions(
        'redis://127.0.0.1:6379/1?enableOfflineQueue=true&autoResendUnfulfilledCommands=true&tls=x',
      ),
      { host: '127.0.0.1', port: 6379, db: 1 },
    );
  });

  it('refuses a path that is not a database number, and another scheme', () => {
    for (const url of ['redis://h/name', 'redis://h/1/2', 'redis://h/-1', 'redis://h/1.5']) {
      assert.throws(() => redisConnectionOptions(url), TypeError, url);
    }
    assert.throws(() => redisConnectionOptions('http://h'), TypeError);
    assert.throws(() => redisConnectionOptions('redis://a%zz:b@h'), URIError);
  });
});

describe('session store: redis outage', () => {
  it('fails fast while Redis is down, keeps the data of a frozen server, and recovers by itself', async () => {
    const server = await startRedisServer();
    const store = createRedisSessionStore({ url: server.url });
    try {
      const record = makeRecord();
      await store.create(record);

      // Frozen: connections open, nothing answers. The operation gives up in bounded time.
      server.pause();
      const started = Date.now();
      await assert.rejects(store.get(record.id), (err: unknown) => isSessionStoreUnavailable(err));
      assert.ok(Date.now() - started < 3000, 'bounded by the command time limit');
      server.resume();
      assert.equal((await store.get(record.id))?.state, 'active', 'nothing lost');

      // Stopped: refused at once, never a silent "no session".
      await server.stop();
      const refused = Date.now();
      await assert.rejects(store.get(record.id), (err: unknown) => isSessionStoreUnavailable(err));
      assert.ok(Date.now() - refused < 2500);
      // The callback's check before it redeems a code: refused at once too.
      const pinged = Date.now();
      await assert.rejects(store.ping(), (err: unknown) => isSessionStoreUnavailable(err));
      assert.ok(Date.now() - pinged < 2500);
      await server.start();
      let back = false;
      for (let i = 0; i < 60 && !back; i++) {
        await new Promise((r) => setTimeout(r, 100));
        back = await store.get(record.id).then(
          () => true,
          () => false,
        );
      }
      assert.ok(back, 'the store reconnects by itself');
    } finally {
      await store.close();
      await server.stop();
    }
  });
});

describe('session store: redis, a command cut off by a lost connection', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** Polls `check` every 100 ms until it holds or `ms` pass. */
  async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await check()) return true;
      await sleep(100);
    }
    return false;
  }
  /** True once the store has given up its connection: it then refuses at once. */
  const refusesAtOnce = (store: SessionStore) => async () => {
    const started = Date.now();
    await store.ping().catch(() => undefined);
    return Date.now() - started < 500;
  };
  const answers = (store: SessionStore) => () =>
    store.ping().then(
      () => true,
      () => false,
    );

  it('is never sent again after the reconnect (frozen server)', async () => {
    await withOwnRedis(async ({ server, store, raw }) => {
      const record = makeRecord();
      await store.create(record);
      await raw.config('RESETSTAT');
      // A logout while the server is frozen: the request gives up (503) with its transaction
      // written to a connection that the store then closes for its silence.
      server.pause();
      await assert.rejects(store.remove(record.id), (err: unknown) =>
        isSessionStoreUnavailable(err),
      );
      assert.ok(
        await eventually(refusesAtOnce(store), 10_000),
        'the store gives the connection up',
      );
      server.resume();
      assert.ok(await eventually(answers(store), 10_000), 'and reconnects once the server answers');
      await sleep(300);
      // Once at most: the thawed server still reads the bytes it had received before the freeze
      // (nothing a client can take back); the client must not send them a second time.
      const stats = await raw.info('commandstats');
      const execs = Number(/cmdstat_exec:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      assert.ok(execs <= 1, `the transaction ran ${execs} times`);
    });
  });

  it('a logout answered 503 does not end the session later (commands held, never run)', async () => {
    // CLIENT PAUSE holds every command unanswered, like a freeze, and a connection closed
    // meanwhile is dropped with what it held: the removal never reached Redis. A client that
    // re-sent it after reconnecting would sign the user out after the app said it had failed.
    await withOwnRedis(async ({ store, raw }) => {
      const record = makeRecord();
      await store.create(record);
      await raw.call('CLIENT', 'PAUSE', '5000', 'ALL');
      await assert.rejects(store.remove(record.id), (err: unknown) =>
        isSessionStoreUnavailable(err),
      );
      assert.ok(
        await eventually(refusesAtOnce(store), 10_000),
        'the store gives the connection up',
      );
      assert.ok(await eventually(answers(store), 10_000), 'and reconnects once the server answers');
      await sleep(300);
      assert.equal((await store.get(record.id))?.state, 'active');
    });
  });
});

describe('session store: redis indexes', () => {
  it('keeps only live sessions in the sid and sub indexes, not every session a user ever had', async () => {
    await withOwnRedis(async ({ store, raw }) => {
      // A user who keeps one session (another device) while signing in again and again here; the
      // short sessions expire on their own (nobody logs out), so the indexes outlive them.
      const device = makeRecord({ sub: 'carol', sid: 'sid-carol' });
      await store.create(device);
      for (let i = 0; i < 5; i++) {
        const short = makeRecord({ sub: 'carol', sid: 'sid-carol', expires_at: Date.now() + 100 });
        await store.create(short);
      }
      await new Promise((r) => setTimeout(r, 200));
      const live = makeRecord({ sub: 'carol', sid: 'sid-carol' });
      await store.create(live);

      // Whatever the layout, the keys that index carol's sessions hold the live ids only.
      const indexes = (await raw.keys('rp:*')).filter((key) => /carol$/.test(key));
      assert.equal(indexes.length, 2, `a sid and a sub index: ${indexes.join(', ')}`);
      for (const key of indexes) {
        const type = await raw.type(key);
        const members =
          type === 'zset' ? await raw.zrange(key, '0', '-1') : await raw.smembers(key);
        assert.deepEqual(members.sort(), [device.id, live.id].sort(), `${key} (${type})`);
      }
      assert.deepEqual(
        (await store.removeBySub('carol')).map((r) => r.id).sort(),
        [device.id, live.id].sort(),
      );
      assert.equal((await raw.keys('rp:*')).filter((key) => /carol$/.test(key)).length, 0);
    });
  });
});

describe('session store: redis, instances whose clocks differ', () => {
  /** Runs `fn` with this process's clock moved by `offsetMs` (another instance's clock). */
  async function withClockOffset<T>(offsetMs: number, fn: () => Promise<T>): Promise<T> {
    const realNow = Date.now;
    Date.now = () => realNow() + offsetMs;
    try {
      return await fn();
    } finally {
      Date.now = realNow;
    }
  }

  it('MUST: a sign-in on an instance whose clock runs ahead keeps the others in the indexes', async () => {
    await withOwnRedis(async ({ store, raw }) => {
      // Signed in on an instance with the right time, a minute before its session ends.
      const ending = makeRecord({ sub: 'dave', sid: 'sid-dave', expires_at: Date.now() + 60_000 });
      await store.create(ending);
      // The same user signs in on an instance whose clock is two minutes ahead.
      await withClockOffset(120_000, () =>
        store.create(makeRecord({ sub: 'dave', sid: 'sid-dave' })),
      );
      assert.equal(await raw.exists(`rp:s:${ending.id}`), 1, 'the first session still lives');
      // A back-channel logout (by sid or by sub) must end it too.
      const ended = (await store.removeBySid('sid-dave', 'dave')).map((r) => r.id);
      assert.ok(ended.includes(ending.id), 'ended by the logout of its sid');
      assert.equal(await raw.exists(`rp:s:${ending.id}`), 0);
    });
  });

  it("MUST: a session lives its lifetime on the server's clock, whatever the instance's", async () => {
    await withOwnRedis(async ({ store, raw }) => {
      for (const offset of [-9 * 3600_000, 3600_000]) {
        const record = await withClockOffset(offset, async () => {
          const r = makeRecord({ expires_at: Date.now() + 60_000 });
          await store.create(r);
          return r;
        });
        const ttl = await raw.pttl(`rp:s:${record.id}`);
        assert.ok(ttl > 55_000 && ttl <= 60_000, `clock ${offset} ms off: ttl ${ttl} ms`);
        assert.equal((await store.get(record.id))?.state, 'active');
      }
    });
  });
});

describe('session store: redis, an ACL user with only the commands the README lists', () => {
  it('carries out every operation (scripts included) with those rights and no others', async () => {
    await withOwnRedis(async ({ server, raw }) => {
      // The README's list (Sessions, "ACL"): a command added to the store must be added there.
      const commands =
        'ping select eval time hget hmget hset del exists get set pexpireat zadd zrange zinter zrem zremrangebyscore';
      await raw.acl(
        'SETUSER',
        'rp-app',
        'on',
        '>rp-app-password',
        '~rp:*',
        ...commands.split(' ').map((c) => `+${c}`),
      );
      const store = createRedisSessionStore({
        url: `${server.url.replace('redis://', 'redis://rp-app:rp-app-password@')}/0`,
      });
      try {
        const record = makeRecord({ sub: 'erin', sid: 'sid-erin' });
        await store.ping();
        await store.create(record, { flow: 'x' });
        assert.equal((await store.get(record.id))?.state, 'active');
        assert.equal(await store.updateTokens(record.id, 1, { refresh_token: 'rt-1' }), 2);
        assert.equal(await store.attach(record.id, 'more', 'y'), true);
        assert.equal(await store.getAttachment(record.id, 'more'), 'y');
        const lock = await store.acquireLock('refresh:x', 1000);
        assert.ok(lock);
        await store.releaseLock('refresh:x', lock);
        assert.equal(await store.rememberOnce('jti-1', Date.now() / 1000 + 60), true);
        await store.forgetOnce('jti-1');
        assert.equal((await store.end(record.id, 'refresh_rejected'))?.id, record.id);
        const second = makeRecord({ sub: 'erin', sid: 'sid-erin' });
        await store.create(second);
        assert.deepEqual(
          (await store.removeBySid('sid-erin', 'erin')).map((r) => r.id),
          [second.id],
        );
        await store.create(record);
        assert.deepEqual(
          (await store.removeBySub('erin')).map((r) => r.id),
          [record.id],
        );
        await store.create(second);
        assert.equal((await store.remove(second.id))?.id, second.id);
        // Nothing was refused: the server logged no ACL denial.
        const denials = (await raw.acl('LOG')) as unknown[][];
        const refused = denials.map((entry) => String(entry[entry.indexOf('object') + 1]));
        assert.deepEqual(
          refused.filter((name) => name !== 'info'),
          [],
          'only INFO, which ioredis tries once for its ready check',
        );
      } finally {
        await store.close();
      }
    });
  });
});

describe('session store: redis, the database of REDIS_URL', () => {
  it('keeps its data in the database the URL names', async () => {
    await withOwnRedis(
      async ({ store, raw }) => {
        const record = makeRecord();
        await store.create(record);
        assert.deepEqual(await raw.keys('rp:*'), [], 'nothing in database 0');
        await raw.select(5);
        assert.equal(await raw.exists(`rp:s:${record.id}`), 1);
      },
      { db: 5 },
    );
  });

  it('MUST: a database the server refuses answers 503, never writes to database 0', async () => {
    // Redis has 16 databases by default (a cluster, or many managed offers, only one): SELECT 20
    // fails. The client must not go on in database 0, among another app's keys (or another
    // deployment's sessions).
    await withOwnRedis(
      async ({ store, raw }) => {
        await assert.rejects(store.acquireLock('refresh:x', 10_000), (err: unknown) =>
          isSessionStoreUnavailable(err),
        );
        await assert.rejects(store.create(makeRecord()), (err: unknown) =>
          isSessionStoreUnavailable(err),
        );
        assert.deepEqual(await raw.keys('*'), []);
      },
      { db: 20 },
    );
  });
});

describe('session store: redis, a write with a failed command', () => {
  it('MUST: a create that fails leaves no session behind (a script does not roll back)', async () => {
    // A key of the wrong type where the user's index goes (another app on the same Redis, a
    // hand-made key): the script stops at that command, and what it wrote before stays.
    await withOwnRedis(async ({ store, raw }) => {
      await raw.set('rp:subx:dave', 'not a sorted set');
      const record = makeRecord({ sub: 'dave', sid: 'sid-dave' });
      await assert.rejects(store.create(record), (err: unknown) => isSessionStoreUnavailable(err));
      // The server answered: the store is reachable, and other users are not turned away.
      assert.equal(isStoreDown(), false, 'a refused command is no outage');
      // The sign-in answers 503 and revokes its refresh token: its session must not live on in
      // Redis, holding the tokens with no cookie to reach it and no index to log it out by.
      assert.equal(await store.get(record.id), undefined);
      assert.equal(await raw.exists(`rp:s:${record.id}`), 0);
    });
  });

  it('MUST: a create carried out after its time limit leaves no session behind', async () => {
    // A store that holds writes past the 2 s limit (CLIENT PAUSE WRITE; a busy server) and then
    // carries them out: the sign-in has answered 503 and revoked its refresh token by then.
    await withOwnRedis(async ({ store, raw }) => {
      await store.ping();
      const record = makeRecord({ sub: 'erin', sid: 'sid-erin' });
      await raw.call('CLIENT', 'PAUSE', '3000', 'WRITE');
      await assert.rejects(store.create(record), (err: unknown) => isSessionStoreUnavailable(err));
      // The pause ends at 3 s (before the client's 4 s socket timeout): the transaction runs.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      assert.equal(await raw.exists(`rp:s:${record.id}`), 0, 'no session the sign-in gave up');
      assert.ok(await raw.exists('rp:subx:erin'), 'the transaction did run');
    });
  });
});

describe('session store: redis error replies', () => {
  it('an error reply that means the server cannot serve (a read-only replica) is an outage', async () => {
    await withOwnRedis(async ({ store, raw }) => {
      reportStoreSuccess();
      // A replica of a primary that is not there: it answers every write with READONLY.
      await raw.replicaof('127.0.0.1', '1');
      await assert.rejects(store.create(makeRecord()), (err: unknown) =>
        isSessionStoreUnavailable(err),
      );
      assert.equal(isStoreDown(), true, 'READONLY: requests that need the store answer 503');
      await raw.replicaof('NO', 'ONE');
      await store.create(makeRecord());
      assert.equal(isStoreDown(), false, 'writable again: the outage ends');
    });
  });

  it('out of memory: what adds data is refused whole; a removal, a lock release, a token update run', async () => {
    // The store's writes are Lua scripts. Redis refuses one that writes (its `#!lua` line says
    // so) with `OOM …` once memory is over its limit, before it runs; a removal runs, as a DEL
    // does, and so does the update that keeps a rotated refresh token (`flags=allow-oom`).
    await withOwnRedis(async ({ store, raw }) => {
      const old = makeRecord({ sub: 'olga', sid: 'sid-olga' });
      await store.create(old);
      const lock = await store.acquireLock('refresh:olga', 30_000);
      assert.ok(lock !== undefined);
      const read = await store.get(old.id);
      assert.ok(read?.state === 'active');
      reportStoreSuccess();
      await raw.config('SET', 'maxmemory', '1');
      try {
        const record = makeRecord({ sub: 'oscar', sid: 'sid-oscar' });
        await assert.rejects(store.create(record), (err: unknown) =>
          isSessionStoreUnavailable(err),
        );
        assert.equal(isStoreDown(), true, 'OOM: requests that need the store answer 503');
        assert.equal(await raw.exists('rp:subx:oscar', 'rp:sidx:sid-oscar'), 0, 'nothing written');
        await assert.rejects(store.attach(old.id, 'flow-cc', 'x'), (err: unknown) =>
          isSessionStoreUnavailable(err),
        );
        assert.equal(await raw.hexists(`rp:s:${old.id}`, 'a:flow-cc'), 0, 'no attachment');
        // The provider rotated the refresh token: the session keeps the new one.
        const tokens = { ...old.tokens, refresh_token: 'rt-rotated' };
        assert.equal(await store.updateTokens(old.id, read.version, tokens), read.version + 1);
        const updated = await store.get(old.id);
        assert.ok(updated?.state === 'active');
        assert.equal(updated.record.tokens.refresh_token, 'rt-rotated');
        await store.releaseLock('refresh:olga', lock);
        assert.equal(await raw.exists('rp:lock:refresh:olga'), 0, 'the lock is released');
        assert.equal((await store.remove(old.id))?.id, old.id);
        assert.equal(await raw.exists(`rp:s:${old.id}`), 0);
      } finally {
        await raw.config('SET', 'maxmemory', '0');
      }
      await store.create(makeRecord());
      assert.equal(isStoreDown(), false, 'memory again: the outage ends');
    });
  });
});

describe('session store: redis attachments', () => {
  it('leaves no key behind when attaching to a session that is gone', async () => {
    await withOwnRedis(async ({ store, raw }) => {
      assert.equal(await store.attach(createSessionId(), 'flow-cc', 'x'), false);
      assert.deepEqual(await raw.keys('*'), []);
      // A live session's attachments expire with it (one key, one expiry).
      const record = makeRecord({ expires_at: Date.now() + 30_000 });
      await store.create(record, { 'flow-signin': 'y' });
      await store.attach(record.id, 'flow-cc', 'z');
      const keys = (await raw.keys('rp:s:*')).sort();
      assert.deepEqual(keys, [`rp:s:${record.id}`]);
      const ttl = await raw.pttl(`rp:s:${record.id}`);
      assert.ok(ttl > 25_000 && ttl <= 30_000, `expires with the session: ${ttl}`);
    });
  });
});

describe('session store: redis, two instances', () => {
  it('never loses a token update that races a logout: the logout gets the tokens it deleted', async () => {
    // A refresh on one instance stores its rotated refresh token while a logout on another deletes
    // the session. Either the update fails (the refresh then revokes its token), or it lands first
    // and the logout gets the record with it (the logout then revokes it). An update that lands
    // between the logout's read and its delete would leave a refresh token nobody revokes.
    const one = createRedisSessionStore({ url: redis.url });
    const two = createRedisSessionStore({ url: redis.url });
    try {
      const lost: number[] = [];
      for (let i = 0; i < 60; i++) {
        const record = makeRecord({ sub: `race-${i}`, sid: `race-sid-${i}` });
        await one.create(record);
        const ending = [
          () => two.remove(record.id),
          () => two.end(record.id, 'refresh_rejected'),
          async () => (await two.removeBySid(`race-sid-${i}`))[0],
        ][i % 3]!;
        const [updated, removed] = await Promise.all([
          one.updateTokens(record.id, 1, { refresh_token: 'rt-rotated' }),
          ending(),
        ]);
        if (updated !== undefined && removed?.tokens.refresh_token !== 'rt-rotated') lost.push(i);
        assert.notEqual((await one.get(record.id))?.state, 'active');
      }
      assert.deepEqual(lost, [], 'rounds where the rotated refresh token escaped the logout');
    } finally {
      await one.close();
      await two.close();
    }
  });
});
