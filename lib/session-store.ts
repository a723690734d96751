import { randomBytes } from 'node:crypto';

import type { EndReason, SessionRecord, SessionTokens, StoredSession } from './session-record';

/**
 * Where session records live (./session-record.ts), behind one interface with two
 * implementations:
 *
 * - {@link createMemorySessionStore}: this process's memory. The default: `npm run demo` needs
 *   nothing but Node.js. Sessions end when the process ends, and a second instance knows none of
 *   them.
 * - ./redis-session-store.ts: Redis (`REDIS_URL`). Every instance that shares `SESSION_SECRET` and
 *   Redis sees the same sessions, locks and replay cache; sessions survive a restart.
 *
 * Both index sessions by the provider's `sid` and by `sub`, so that a back-channel logout ends
 * them wherever they were created, and both offer a lock with an owner token and a time limit,
 * so that one refresh runs at a time per session across every instance.
 */

export type SessionStore = {
  readonly kind: 'memory' | 'redis';
  /**
   * Stores a new session until its `expires_at`, with its first attachments (see
   * {@link SessionStore.attach}).
   */
  create(record: SessionRecord, attachments?: SessionAttachments): Promise<void>;
  /** The session under `id`: active (with its version), ended (with why), or undefined. */
  get(id: string): Promise<StoredSession | undefined>;
  /**
   * Replaces the tokens of an active session if its version is still `expectedVersion`
   * (compare-and-set), so a rotated refresh token is never overwritten by an older one.
   *
   * @returns the new version, or undefined when the session changed or is gone.
   */
  updateTokens(
    id: string,
    expectedVersion: number,
    tokens: SessionTokens,
  ): Promise<number | undefined>;
  /**
   * Keeps `value` under `name` with the active session `id`, replacing what was there: data shown
   * about the session (the flow inspector's records) that no request but its page reads. It lives
   * and dies with the session, refreshes leave it alone, and {@link SessionStore.get} does not
   * read it.
   *
   * @returns false when the session is not active (then nothing is stored).
   */
  attach(id: string, name: string, value: string): Promise<boolean>;
  /** What is attached under `name` to the active session `id`. */
  getAttachment(id: string, name: string): Promise<string | undefined>;
  /** Deletes a session. @returns the record deleted, if it was active. */
  remove(id: string): Promise<SessionRecord | undefined>;
  /**
   * Ends a session but remembers why for a while ({@link ENDED_TTL_MS}), so the next page can tell
   * the user instead of silently signing them out. @returns the record ended, if it was active.
   */
  end(id: string, reason: EndReason): Promise<SessionRecord | undefined>;
  /**
   * Deletes every session of the provider session `sid`; given `sub` too, only those of that user
   * (a Logout Token naming both identifies the sessions of both, Back-Channel Logout 1.0 §2.7).
   * @returns the records deleted.
   */
  removeBySid(sid: string, sub?: string): Promise<SessionRecord[]>;
  /** Deletes every session of the user `sub`. @returns the records deleted. */
  removeBySub(sub: string): Promise<SessionRecord[]>;
  /**
   * Takes the lock `name` for `ttlMs` unless someone holds it.
   *
   * @returns the owner token (needed to release it), or undefined when it is taken.
   */
  acquireLock(name: string, ttlMs: number): Promise<string | undefined>;
  /** Releases the lock if `token` still owns it (an expired lock may belong to someone else now). */
  releaseLock(name: string, token: string): Promise<void>;
  /**
   * Remembers `jti` until `expiresAtSeconds`. @returns true the first time, false for a replay.
   * The shape of lib/logout-token.ts's JtiReplayStore.
   */
  rememberOnce(jti: string, expiresAtSeconds: number): Promise<boolean>;
  /** Forgets a `jti` remembered by {@link SessionStore.rememberOnce} (a logout to be retried). */
  forgetOnce(jti: string): Promise<void>;
  /**
   * Checks that the store answers, changing nothing: the callback asks before it redeems a code,
   * so that no tokens are issued for a session that could not be kept.
   */
  ping(): Promise<void>;
  /** Closes connections (tests, shutdown). */
  close(): Promise<void>;
};

/** Values attached to a session by name (see {@link SessionStore.attach}). */
export type SessionAttachments = Readonly<Record<string, string>>;

/** How long an ended session's reason is kept: long enough for the user's next page. */
export const ENDED_TTL_MS = 60 * 60 * 1000;

export const SESSION_STORE_UNAVAILABLE = 'session_store_unavailable';

/**
 * The session store cannot be reached (Redis down, or too slow). Not the user's fault and not a
 * reason to sign anyone out: routes answer 503.
 *
 * Recognise it with {@link isSessionStoreUnavailable}, not `instanceof`: Next.js bundles route
 * handlers separately, and the store (one per process) may throw another bundle's class.
 */
export class SessionStoreUnavailableError extends Error {
  readonly code = SESSION_STORE_UNAVAILABLE;

  constructor(detail: string, options?: { cause?: unknown }) {
    super(`session store unavailable: ${detail}`, options);
    this.name = 'SessionStoreUnavailableError';
  }
}

/** True for a {@link SessionStoreUnavailableError}, from whichever bundle it came. */
export function isSessionStoreUnavailable(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { code?: unknown }).code === SESSION_STORE_UNAVAILABLE
  );
}

/** A new session id: 256 random bits. */
export function createSessionId(): string {
  return randomBytes(32).toString('base64url');
}

export type MemoryStoreOptions = {
  /** Milliseconds since the epoch; a fake clock in tests. */
  readonly now?: () => number;
};

type MemoryEntry =
  | {
      state: 'active';
      record: SessionRecord;
      version: number;
      expiresAt: number;
      attachments: Map<string, string>;
    }
  | { state: 'ended'; reason: EndReason; expiresAt: number };

/**
 * Sessions in this process's memory. Expired entries are dropped when read and swept on writes,
 * so memory follows the number of live sessions.
 */
export function createMemorySessionStore(options: MemoryStoreOptions = {}): SessionStore {
  const now = options.now ?? Date.now;
  const sessions = new Map<string, MemoryEntry>();
  const bySid = new Map<string, Set<string>>();
  const bySub = new Map<string, Set<string>>();
  const locks = new Map<string, { token: string; expiresAt: number }>();
  const jtis = new Map<string, number>();
  let writes = 0;

  const index = (map: Map<string, Set<string>>, key: string | undefined, id: string) => {
    if (key === undefined) return;
    let ids = map.get(key);
    if (!ids) map.set(key, (ids = new Set()));
    ids.add(id);
  };
  const unindex = (map: Map<string, Set<string>>, key: string | undefined, id: string) => {
    if (key === undefined) return;
    const ids = map.get(key);
    ids?.delete(id);
    if (ids?.size === 0) map.delete(key);
  };
  const drop = (id: string): SessionRecord | undefined => {
    const entry = sessions.get(id);
    sessions.delete(id);
    if (entry?.state !== 'active') return undefined;
    unindex(bySid, entry.record.sid, id);
    unindex(bySub, entry.record.sub, id);
    return entry.record;
  };
  const live = (id: string): MemoryEntry | undefined => {
    const entry = sessions.get(id);
    if (entry && entry.expiresAt <= now()) {
      drop(id);
      return undefined;
    }
    return entry;
  };
  const sweep = () => {
    if (++writes % 256 !== 0) return;
    const t = now();
    for (const [id, entry] of sessions) if (entry.expiresAt <= t) drop(id);
    for (const [jti, exp] of jtis) if (exp <= t) jtis.delete(jti);
    for (const [name, lock] of locks) if (lock.expiresAt <= t) locks.delete(name);
  };
  const removeAll = (ids: Set<string> | undefined, sub?: string): SessionRecord[] =>
    [...(ids ?? [])].flatMap((id) => {
      const entry = live(id);
      if (entry === undefined) return [];
      if (sub !== undefined && entry.state === 'active' && entry.record.sub !== sub) return [];
      const record = drop(id);
      return record ? [record] : [];
    });

  return {
    kind: 'memory',
    async create(record, attachments = {}) {
      sweep();
      drop(record.id);
      sessions.set(record.id, {
        state: 'active',
        record,
        version: 1,
        expiresAt: record.expires_at,
        attachments: new Map(Object.entries(attachments)),
      });
      index(bySid, record.sid, record.id);
      index(bySub, record.sub, record.id);
    },
    async get(id) {
      const entry = live(id);
      if (!entry) return undefined;
      return entry.state === 'active'
        ? { state: 'active', record: entry.record, version: entry.version }
        : { state: 'ended', reason: entry.reason };
    },
    async updateTokens(id, expectedVersion, tokens) {
      const entry = live(id);
      if (entry?.state !== 'active' || entry.version !== expectedVersion) return undefined;
      entry.record = { ...entry.record, tokens };
      entry.version += 1;
      return entry.version;
    },
    async attach(id, name, value) {
      const entry = live(id);
      if (entry?.state !== 'active') return false;
      entry.attachments.set(name, value);
      return true;
    },
    async getAttachment(id, name) {
      const entry = live(id);
      return entry?.state === 'active' ? entry.attachments.get(name) : undefined;
    },
    async remove(id) {
      return live(id) === undefined ? undefined : drop(id);
    },
    async end(id, reason) {
      const record = live(id) === undefined ? undefined : drop(id);
      if (record) {
        sessions.set(id, {
          state: 'ended',
          reason,
          expiresAt: Math.min(record.expires_at, now() + ENDED_TTL_MS),
        });
      }
      return record;
    },
    async removeBySid(sid, sub) {
      return removeAll(bySid.get(sid), sub);
    },
    async removeBySub(sub) {
      return removeAll(bySub.get(sub));
    },
    async acquireLock(name, ttlMs) {
      sweep();
      const held = locks.get(name);
      if (held && held.expiresAt > now()) return undefined;
      const token = randomBytes(16).toString('base64url');
      locks.set(name, { token, expiresAt: now() + ttlMs });
      return token;
    },
    async releaseLock(name, token) {
      if (locks.get(name)?.token === token) locks.delete(name);
    },
    async rememberOnce(jti, expiresAtSeconds) {
      sweep();
      const seen = jtis.get(jti);
      if (seen !== undefined && seen > now()) return false;
      jtis.set(jti, Math.max(expiresAtSeconds * 1000, now() + 1000));
      return true;
    },
    async forgetOnce(jti) {
      jtis.delete(jti);
    },
    async ping() {
      // This process's memory is always there.
    },
    async close() {
      sessions.clear();
      bySid.clear();
      bySub.clear();
      locks.clear();
      jtis.clear();
    },
  };
}
