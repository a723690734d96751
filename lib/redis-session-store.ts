import { randomBytes } from 'node:crypto';

import { Redis } from 'ioredis';

import { describeRedisUrl, redisConnectionOptions } from './config';
import { describeError, log } from './log';
import {
  parseSessionRecord,
  type EndReason,
  type SessionRecord,
  type StoredSession,
} from './session-record';
import { ENDED_TTL_MS, SessionStoreUnavailableError, type SessionStore } from './session-store';
import { reportStoreFailure, reportStoreSuccess } from './store-health';

/**
 * The session store on Redis (`REDIS_URL`), with ioredis (maintained by Redis: promise API, and the
 * options this store depends on: no offline queue, no re-sending after a reconnect, a socket
 * timeout). Chosen over node-redis (`@redis/client`) for its start-up cost, on the path of every
 * cold start with REDIS_URL: loading it and creating the client took 40–60 ms here, node-redis
 * 150–210 ms (478 modules, and some 400 command methods attached to each client); per command
 * they cost the same.
 *
 * Layout (every key under `rp:`):
 * - `rp:s:<id>`    hash `{ r: record JSON, v: version, a:<name>: attachment }`, expiring with the
 *   session (attachments: the flow inspector's records, read by its page only);
 * - `rp:e:<id>`    why a session ended early (refresh refused), for an hour;
 * - `rp:sidx:<sid>` and `rp:subx:<sub>`: sorted sets of session ids scored by the session's
 *   expiry (ms, on Redis's clock), for back-channel logout; every sign-in drops the ids that have expired, so an index
 *   holds the live sessions of its sid or user, not every session they ever had;
 * - `rp:lock:<name>` a lock: owner token, `SET NX PX`, released only by its owner (Lua);
 * - `rp:jti:<jti>` a logout token seen, `SET NX PX` until it could no longer be accepted (replay).
 *
 * A write that touches more than one key, or reads and writes, is one Lua script: atomic as a
 * MULTI/EXEC transaction, and one command to send and answer where a transaction of a new session
 * took 13. A sign-in that replaces a session, with the `/api/me` after it, sends 5 commands
 * instead of 23 (Redis counts 21: it counts those its scripts run, TIME included), about 0.2 ms
 * less on loopback (`npm run bench -- --redis`). Like EXEC, a script does not roll back: a command that fails
 * stops it, and what it wrote before stays (see create). Each script's `#!lua` line says what it
 * does when Redis is out of memory (`maxmemory`): one that adds data is refused whole (an outage:
 * 503); one that deletes, or puts a rotated refresh token in place, runs (`flags=allow-oom`).
 *
 * Failure model: while Redis is unreachable no command waits for it. The offline queue is off and
 * every operation has a time limit, so a request fails within {@link COMMAND_TIMEOUT_MS} with a
 * {@link SessionStoreUnavailableError} (routes answer 503); the client reconnects by itself in the
 * background and the first successful command ends the outage (./store-health.ts). A command cut
 * off by a lost connection fails; it is never sent again on the next one.
 *
 * @see https://redis.io/docs/latest/develop/clients/ioredis/
 * @see https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (single instance lock)
 */

/** A command that takes longer than this fails (the request answers 503 rather than hang). */
const COMMAND_TIMEOUT_MS = 2000;
/** Reconnect backoff: 50 ms, growing to at most this. */
const MAX_RECONNECT_DELAY_MS = 1000;
/** How long a request waits for the very first connection of the process. */
const FIRST_CONNECT_WAIT_MS = 2000;
/** A ping this often while connected: a server that went silent is noticed without a request. */
const PING_INTERVAL_MS = 1000;

const PREFIX = 'rp:';
const sessionKey = (id: string) => `${PREFIX}s:${id}`;
const endedKey = (id: string) => `${PREFIX}e:${id}`;
const sidKey = (sid: string) => `${PREFIX}sidx:${sid}`;
const subKey = (sub: string) => `${PREFIX}subx:${sub}`;
const lockKey = (name: string) => `${PREFIX}lock:${name}`;
const jtiKey = (jti: string) => `${PREFIX}jti:${jti}`;

// Compare-and-set of the record: the version must not have moved since it was read, so a refresh
// that lost a race never puts back an older (already rotated) refresh token. Also when the server
// is out of memory (allow-oom): the provider has already rotated the refresh token, and a refused
// update would cost the session its grant (./user-tokens.ts revokes the token it could not keep);
// it replaces a field in place.
const UPDATE_IF_VERSION = `#!lua flags=allow-oom
local v = redis.call('HGET', KEYS[1], 'v')
if v == false or v ~= ARGV[1] then return 0 end
local n = tonumber(v) + 1
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'v', tostring(n))
return n`;

// An attachment joins a live session only: HSET alone would create a hash without expiry (a leak)
// for a session deleted meanwhile. Refused whole when the server is out of memory (`#!lua`).
const ATTACH_IF_LIVE = `#!lua
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

// A session's record, read and deleted at once (see removeRecord). Like any deletion, also when
// the server is out of memory (allow-oom).
const TAKE_RECORD = `#!lua flags=allow-oom
local r = redis.call('HGET', KEYS[1], 'r')
redis.call('DEL', KEYS[1])
return r`;

// A session's id leaves its indexes (KEYS: the sub's, the sid's), out of memory too.
const LEAVE_INDEXES = `#!lua flags=allow-oom
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1`;

// A new session (see create): KEYS are its ended marker, its hash, then its indexes (the sid's,
// the sub's); ARGV its time to live (ms), its id, then the hash's fields and values. An index
// lives as long as its newest session: its expiry is set when it has none, and pushed later (GT)
// when this session outlives it. Ids of sessions that expired on their own (nothing removed them)
// go now: a user who signs in every day would otherwise grow an index without bound, and a logout
// by `sub` would walk all of it.
// MUST: every moment (the expiry, the scores, "now" for the pruning) on Redis's clock (TIME), none
// on the instance's: instances whose clocks differ would otherwise prune each other's live
// sessions from the indexes (a back-channel logout would then miss them) and give a session a
// lifetime longer or shorter by the difference (or none: an expiry already past for Redis).
// The `#!lua` line makes Redis refuse it whole when it is out of memory (without it, Redis checks
// memory at a script's first write only: the DEL would pass, and every write after it).
const CREATE_SESSION = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIREAT', KEYS[2], expires)
for i = 3, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  redis.call('ZADD', KEYS[i], expires, ARGV[2])
  redis.call('PEXPIREAT', KEYS[i], expires, 'NX')
  redis.call('PEXPIREAT', KEYS[i], expires, 'GT')
end
return 1`;

const attachmentField = (name: string) => `a:${name}`;

// A lock is released by its owner only: after its TTL it may already be someone else's. Like any
// deletion, also when the server is out of memory (allow-oom).
const RELEASE_IF_OWNER = `#!lua flags=allow-oom
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export type RedisStoreOptions = {
  readonly url: string;
  /** Name in logs (tests run several). */
  readonly name?: string;
};

/**
 * Error replies that mean the server cannot serve now, by their code: an outage like an unreachable
 * server (still loading its data, a read-only replica, out of memory, busy with a script, a user
 * without the rights this store needs). Any other error reply (WRONGTYPE: a key of another app
 * where this store's goes; ERR) is the server answering about one command: it is reachable.
 *
 * @see https://redis.io/docs/latest/develop/reference/protocol-spec/#simple-errors (the code is
 *   the error's first word)
 */
const OUTAGE_REPLY_CODES = new Set([
  'LOADING',
  'READONLY',
  'MASTERDOWN',
  'MISCONF',
  'OOM',
  'BUSY',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'NOREPLICAS',
  'NOAUTH',
  'WRONGPASS',
  'NOPERM',
]);

/** The code of an error reply of the server (ioredis's ReplyError), or undefined for any other error. */
function replyCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return undefined;
  return /^[A-Z][A-Z_-]*/.exec(err.message)?.[0];
}

/**
 * Whether `err` is the server refusing a command while it can serve (see
 * {@link OUTAGE_REPLY_CODES}). A command of a script that fails answers for the script, with its
 * own code first (`READONLY … script: …`).
 */
function isRefusedCommand(err: unknown): boolean {
  const code = replyCode(err);
  return code !== undefined && !OUTAGE_REPLY_CODES.has(code);
}

/** The command a reply error answered (ioredis sets `command` on it), by its lower-case name. */
function failedCommand(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('command' in err)) return undefined;
  const { command } = err;
  if (typeof command !== 'object' || command === null || !('name' in command)) return undefined;
  return typeof command.name === 'string' ? command.name.toLowerCase() : undefined;
}

/**
 * Connects to Redis (in the background) and returns the store. Never throws for an unreachable
 * server: operations fail with {@link SessionStoreUnavailableError} until it is reachable.
 *
 * @throws {TypeError} or {URIError} for a `url` the client cannot use
 *   ({@link redisConnectionOptions}).
 */
export function createRedisSessionStore(options: RedisStoreOptions): SessionStore {
  const where = describeRedisUrl(options.url);
  /** Connections in a row given up for a refused SELECT (see the 'ready' listener). */
  let selectsRefused = 0;
  const client = new Redis({
    ...redisConnectionOptions(options.url),
    // Connected below, once the listeners are on.
    lazyConnect: true,
    // MUST: no offline queue. With it, commands issued while Redis is down wait for the reconnect
    // and requests hang; without it they fail at once and the route answers 503.
    enableOfflineQueue: false,
    // MUST: a command cut off by a lost connection fails and is never sent again. ioredis would
    // keep it and re-send it after the reconnect (its defaults), long after the request that
    // issued it gave up: a removal the app answered 503 for ("nothing changed") would then sign
    // the user out silently, a lock would be taken for nobody. With no retry per request, every
    // command waiting on a connection that closes is failed as it closes (event_handler.js,
    // closeHandler: flushQueue), before a reconnect could re-send it; without the re-sending
    // alone, they would be dropped unsettled instead.
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: COMMAND_TIMEOUT_MS,
    // TCP keep-alive probes after 30 s idle (node-redis's default; ioredis's is the system's, 2 h).
    keepAlive: 30_000,
    // A server that stops answering (frozen, or a dead network path) is noticed by silence: a
    // socket that owes replies and receives nothing for this long is closed (then reconnected),
    // which fails the commands waiting on it. With the pings below this holds when idle, too.
    socketTimeout: COMMAND_TIMEOUT_MS * 2,
    // 50 ms, doubling up to the maximum; never gives up (any number: reconnect).
    // (A connection given up for its refused SELECT, below, counts: ioredis restarts the count at
    // every 'ready'.)
    retryStrategy: (attempt) =>
      Math.min(50 * 2 ** Math.min(attempt - 1 + selectsRefused, 5), MAX_RECONNECT_DELAY_MS),
  });
  // MUST: a connection whose SELECT failed is not used. ioredis reports a refused SELECT of its
  // handshake (a database the server does not have, a user without +select) as an 'error' and
  // goes on, ready, in database 0: sessions would land among another app's keys. Such a
  // connection is closed and retried instead, and no command goes out on it meanwhile.
  let selectRefused = false;
  client.on('connect', () => {
    selectRefused = false;
  });
  // ioredis emits 'error' on every failed (re)connection; without a listener it writes each one
  // to the console.
  client.on('error', (err: unknown) => {
    if (client.status === 'connect' && failedCommand(err) === 'select') selectRefused = true;
    reportStoreFailure(`${where}: ${describeError(err)}`);
  });
  // Resolves at the first 'ready': connect()'s own promise rejects at the first refused attempt,
  // while the client keeps trying (a Redis that starts just after the app).
  const firstConnect = new Promise<void>((resolve) => client.once('ready', resolve));
  client.on('ready', () => {
    if (selectRefused) {
      selectsRefused += 1;
      client.disconnect(true);
      return;
    }
    selectsRefused = 0;
    reportStoreSuccess();
    log.info('session store connected', { redis: where });
  });
  let closed = false;
  // A function, not the property inline: TypeScript would keep its narrowing across an await.
  const isReady = () => client.status === 'ready' && !selectRefused;
  client.connect().catch((err: unknown) => reportStoreFailure(`${where}: ${describeError(err)}`));
  const pinger = setInterval(() => {
    if (isReady()) client.ping().catch(() => undefined);
  }, PING_INTERVAL_MS);
  // The pings must not keep the process alive.
  pinger.unref();

  /**
   * Runs `fn` against a ready client, mapping every failure to SessionStoreUnavailableError.
   * `late` is aborted once the caller has been answered with the time limit's failure: what `fn`
   * still does then is for nobody.
   */
  async function run<T>(what: string, fn: (late: AbortSignal) => Promise<T>): Promise<T> {
    if (closed) throw new SessionStoreUnavailableError('the store is closed');
    if (!isReady()) {
      // Right after start the first connection may still be under way: wait for it, briefly.
      let waited: NodeJS.Timeout | undefined;
      await Promise.race([
        firstConnect,
        new Promise((r) => {
          waited = setTimeout(r, FIRST_CONNECT_WAIT_MS);
        }),
      ]);
      clearTimeout(waited);
      if (!isReady()) {
        reportStoreFailure(`${where}: not connected`);
        throw new SessionStoreUnavailableError(`${what}: Redis at ${where} is not connected`);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new AbortController();
    try {
      // The socket timeout closes a silent connection only after twice this: a server that
      // accepts the bytes and never answers must not hold the request that long.
      const result = await Promise.race([
        fn(late.signal),
        new Promise<never>((_, fail) => {
          timer = setTimeout(() => {
            late.abort();
            fail(new Error(`no answer within ${COMMAND_TIMEOUT_MS} ms`));
          }, COMMAND_TIMEOUT_MS);
        }),
      ]);
      reportStoreSuccess();
      return result;
    } catch (err) {
      if (isRefusedCommand(err)) {
        // The server answered (this command failed, not the store): no outage, so proxy.ts does
        // not turn other users away; this request still fails, with 503.
        reportStoreSuccess();
        log.warn('session store refused a command', {
          redis: where,
          operation: what,
          code: replyCode(err),
        });
      } else {
        reportStoreFailure(`${where}: ${describeError(err)}`);
      }
      throw new SessionStoreUnavailableError(`${what}: ${describeError(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async function readRecord(id: string): Promise<SessionRecord | undefined> {
    const json = await client.hget(sessionKey(id), 'r');
    if (typeof json !== 'string') return undefined;
    try {
      return parseSessionRecord(JSON.parse(json));
    } catch {
      return undefined;
    }
  }

  /** Deletes a session and its index entries; returns the record if there was one. */
  async function removeRecord(id: string): Promise<SessionRecord | undefined> {
    // MUST: read and delete at once (one script). A refresh on another instance may store its
    // rotated refresh token (compare-and-set) at any moment; between a separate read and the
    // delete, it would succeed, and the caller would revoke the token it read, already replaced,
    // leaving the new one alive at the provider with no session to hold it.
    const json = await client.eval(TAKE_RECORD, 1, sessionKey(id));
    let record: SessionRecord | undefined;
    try {
      record = typeof json === 'string' ? parseSessionRecord(JSON.parse(json)) : undefined;
    } catch {
      record = undefined;
    }
    if (record) {
      // Not awaited: the caller has its answer, and this connection runs the cleanup before any
      // later command of this process. Should it fail, the index keeps an id that leads nowhere
      // (a logout by sid or sub skips it) until its score, the session's expiry, prunes it.
      const keys = [subKey(record.sub)];
      if (record.sid !== undefined) keys.push(sidKey(record.sid));
      client
        .eval(LEAVE_INDEXES, keys.length, ...keys, id)
        .then(reportStoreSuccess, (err: unknown) =>
          reportStoreFailure(`${where}: ${describeError(err)}`),
        );
    }
    return record;
  }

  /**
   * Deletes the sessions indexed under `key`; given `alsoIn` (another index), only those it holds
   * too. @returns the records deleted.
   */
  async function removeSet(key: string, alsoIn?: string): Promise<SessionRecord[]> {
    // Both indexes are written by one script (CREATE_SESSION): a session is in the sid's and the
    // sub's of its record, so their intersection is the sessions of both.
    const ids =
      alsoIn === undefined
        ? await client.zrange(key, '0', '-1')
        : await client.zinter(2, key, alsoIn);
    const removed: SessionRecord[] = [];
    for (const id of ids) {
      const record = await removeRecord(id);
      if (record) removed.push(record);
    }
    // The ids read, not the whole key: a session created meanwhile keeps its index entry.
    if (ids.length > 0) await client.zrem(key, ...ids);
    return removed;
  }

  return {
    kind: 'redis',
    create(record, attachments = {}) {
      return run('create', async (late) => {
        const fields: Record<string, string> = { r: JSON.stringify(record), v: '1' };
        for (const [name, value] of Object.entries(attachments))
          fields[attachmentField(name)] = value;
        const keys = [endedKey(record.id), sessionKey(record.id)];
        if (record.sid !== undefined) keys.push(sidKey(record.sid));
        keys.push(subKey(record.sub));
        // A time to live, not a moment: the script counts it from Redis's clock (see above).
        const ttlMs = Math.max(1, Math.round(record.expires_at - Date.now()));
        const args = [String(ttlMs), record.id];
        for (const [name, value] of Object.entries(fields)) args.push(name, value);
        try {
          await client.eval(CREATE_SESSION, keys.length, ...keys, ...args);
        } catch (err) {
          // MUST: a create that fails leaves no session. A script keeps what it wrote before the
          // command that failed (an index key of the wrong type): the session's hash, tokens
          // included, would stay for its whole lifetime while the caller answers 503 and revokes
          // its refresh token, reachable by no cookie and by no logout of its user. Index
          // entries that lead nowhere are harmless (a logout skips them; expiry prunes them).
          await client.del(sessionKey(record.id)).catch(() => undefined);
          throw err;
        }
        // MUST: the same for a create carried out after the caller gave up on it (a store that
        // held the writes past the time limit): the DEL follows the script on this connection.
        if (late.aborted) await client.del(sessionKey(record.id)).catch(() => undefined);
      });
    },
    get(id) {
      return run('get', async (): Promise<StoredSession | undefined> => {
        // Not HGETALL: the attachments stay in Redis until their page asks for them.
        const [json, v] = await client.hmget(sessionKey(id), 'r', 'v');
        const version = Number(v);
        if (typeof json === 'string' && Number.isSafeInteger(version)) {
          let record: SessionRecord | undefined;
          try {
            record = parseSessionRecord(JSON.parse(json));
          } catch {
            record = undefined;
          }
          if (record?.id === id) return { state: 'active', record, version };
          return undefined;
        }
        const reason = await client.get(endedKey(id));
        return reason === 'refresh_rejected' ? { state: 'ended', reason } : undefined;
      });
    },
    updateTokens(id, expectedVersion, tokens) {
      return run('updateTokens', async () => {
        const record = await readRecord(id);
        if (!record) return undefined;
        const next = await client.eval(
          UPDATE_IF_VERSION,
          1,
          sessionKey(id),
          String(expectedVersion),
          JSON.stringify({ ...record, tokens }),
        );
        return typeof next === 'number' && next > 0 ? next : undefined;
      });
    },
    attach(id, name, value) {
      return run('attach', async () => {
        const done = await client.eval(
          ATTACH_IF_LIVE,
          1,
          sessionKey(id),
          attachmentField(name),
          value,
        );
        return done === 1;
      });
    },
    getAttachment(id, name) {
      return run('getAttachment', async () => {
        const value = await client.hget(sessionKey(id), attachmentField(name));
        return typeof value === 'string' ? value : undefined;
      });
    },
    remove(id) {
      return run('remove', () => removeRecord(id));
    },
    end(id, reason: EndReason) {
      return run('end', async () => {
        const record = await removeRecord(id);
        if (record) {
          const ttl = Math.max(1, Math.min(record.expires_at - Date.now(), ENDED_TTL_MS));
          await client.set(endedKey(id), reason, 'PX', ttl);
        }
        return record;
      });
    },
    removeBySid(sid, sub) {
      return run('removeBySid', () =>
        removeSet(sidKey(sid), sub === undefined ? undefined : subKey(sub)),
      );
    },
    removeBySub(sub) {
      return run('removeBySub', () => removeSet(subKey(sub)));
    },
    acquireLock(name, ttlMs) {
      return run('acquireLock', async () => {
        const token = randomBytes(16).toString('base64url');
        const set = await client.set(
          lockKey(name),
          token,
          'PX',
          Math.max(1, Math.round(ttlMs)),
          'NX',
        );
        return set === 'OK' ? token : undefined;
      });
    },
    releaseLock(name, token) {
      return run('releaseLock', async () => {
        await client.eval(RELEASE_IF_OWNER, 1, lockKey(name), token);
      });
    },
    rememberOnce(jti, expiresAtSeconds) {
      return run('rememberOnce', async () => {
        // MUST: a time to live, not a moment (EXAT): `expiresAtSeconds` is on this instance's
        // clock, and Redis would read a moment on its own; an app host whose clock runs behind
        // Redis's would have the jti forgotten early, or at once, and its replay taken.
        // At least a few seconds: an already expired token is refused elsewhere anyway.
        const ttlMs = Math.max(Math.ceil(expiresAtSeconds * 1000 - Date.now()), 5000);
        const set = await client.set(jtiKey(jti), '1', 'PX', ttlMs, 'NX');
        return set === 'OK';
      });
    },
    forgetOnce(jti) {
      return run('forgetOnce', async () => {
        await client.del(jtiKey(jti));
      });
    },
    ping() {
      return run('ping', async () => {
        await client.ping();
      });
    },
    async close() {
      closed = true;
      clearInterval(pinger);
      // Not awaiting the first connection: against a server that never came up it never settles.
      // disconnect() also stops the reconnect attempts. QUIT waits for the replies still owed;
      // against a frozen server the socket timeout ends it (it rejects, then disconnect()).
      if (isReady()) {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      } else {
        client.disconnect();
      }
    },
  };
}
