import { createHash } from 'node:crypto';

import { sealData, unsealData, type UnsealErrorReason } from 'iron-session';

/**
 * iron-session's `sealData` / `unsealData` with a bounded memory of what this process has sealed
 * or opened, so that a cookie sealed here and sent back (the transaction at the callback, the
 * session id on every request) is not decrypted again.
 *
 * Why: every seal and unseal derives two keys (PBKDF2) and runs six WebCrypto jobs, about 0.4 ms
 * of CPU each; a sign-in opened three cookies this process had sealed itself moments before.
 *
 * What a hit requires, so that it answers exactly what `unsealData` would:
 * - MUST: the byte-identical sealed value (looked up by its SHA-256, never by a prefix or a
 *   partial match) that iron-session sealed here or verified here (HMAC and decryption);
 * - MUST: a password set that opens it: the entry keeps the id and secret it was sealed under,
 *   and the caller's passwords must hold that very secret under that id (a rotated-out secret
 *   no longer opens its cookies, cached or not);
 * - MUST: its expiry, read from the sealed value itself, not passed (iron-session allows 60 s of
 *   skew after it; a hit allows none, and a miss goes to iron-session as before).
 *
 * Each hit returns a fresh copy (parsed from JSON, as `unsealData` would), so callers cannot
 * alter an entry. Tampered, foreign or malformed values never enter: they fail in iron-session.
 */

/** An iron-session password: one secret, or a map id → secret (rotation, see lib/config.ts). */
export type SealPassword = string | Readonly<Record<string, string>>;

type Entry = {
  /** The value as JSON, parsed again on every hit. */
  readonly json: string;
  /** The password id and secret it was sealed under. */
  readonly passwordId: string;
  readonly secret: string;
  /** ms since the epoch; undefined for a seal without expiry (ttl 0). */
  readonly expiresAt: number | undefined;
};

export type SealCacheOptions = {
  /** Entries kept at most (least recently used go first). */
  readonly maxEntries?: number;
  /** Longer sealed values are not kept (cookies are at most 4 KB). */
  readonly maxSealedLength?: number;
};

export type SealCache = {
  /** `sealData`, remembering the result. */
  seal(data: object, options: { password: SealPassword; ttl: number }): Promise<string>;
  /**
   * `unsealData`: `{}` for a value that does not open (reported through `onUnsealError`, as
   * iron-session does).
   */
  unseal<T>(
    sealed: string,
    options: {
      password: SealPassword;
      ttl: number;
      onUnsealError?: (reason: UnsealErrorReason, error: unknown) => void;
    },
  ): Promise<T | Record<string, never>>;
  /** Drops the entry of a value that must not be opened again from memory (a consumed cookie). */
  forget(sealed: string): void;
  /** Entries held now (for tests and the benchmark). */
  readonly size: number;
};

function passwordMap(password: SealPassword): Readonly<Record<string, string>> {
  // As iron-session: a single secret is the map { 1: secret }.
  return typeof password === 'string' ? { 1: password } : password;
}

/** The id and secret iron-session seals with: the highest numeric id of the map. */
function sealingPassword(password: SealPassword): { id: string; secret: string } | undefined {
  const map = passwordMap(password);
  const id = String(Math.max(...Object.keys(map).map(Number)));
  const secret = map[id];
  return secret === undefined ? undefined : { id, secret };
}

/** The password id and expiry written in an iron seal (`Fe26.2*id*…*expiration*…~2`). */
function readSealHeader(
  sealed: string,
): { passwordId: string; expiresAt: number | undefined } | undefined {
  const parts = withoutVersion(sealed).split('*');
  if (parts.length !== 8) return undefined;
  // As iron-webcrypto: a seal without an id is looked up as "default".
  const passwordId = parts[1] || 'default';
  const expiration = parts[5] ?? '';
  if (expiration === '') return { passwordId, expiresAt: undefined };
  if (!/^[1-9]\d*$/.test(expiration)) return undefined;
  return { passwordId, expiresAt: Number(expiration) };
}

/** The seal without iron-session's `~2` suffix, which iron-session ignores when it opens one. */
function withoutVersion(sealed: string): string {
  const at = sealed.indexOf('~');
  return at === -1 ? sealed : sealed.slice(0, at);
}

/** What entries are found by: the seal proper, so that `X~2` and `X~junk` are one entry. */
function keyOf(sealed: string): string {
  return createHash('sha256').update(withoutVersion(sealed)).digest('base64url');
}

/** A cache of its own: one per kind of cookie keeps the hot ones apart from the rest. */
export function createSealCache(options: SealCacheOptions = {}): SealCache {
  const maxEntries = options.maxEntries ?? 2000;
  const maxSealedLength = options.maxSealedLength ?? 4096;
  const entries = new Map<string, Entry>();

  function remember(sealed: string, json: string, passwordId: string, secret: string): void {
    if (sealed.length > maxSealedLength) return;
    const header = readSealHeader(sealed);
    if (!header || header.passwordId !== passwordId) return;
    const key = keyOf(sealed);
    entries.delete(key);
    entries.set(key, {
      json,
      passwordId,
      secret,
      expiresAt: header.expiresAt,
    });
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
  }

  return {
    async seal(data, { password, ttl }) {
      const sealing = sealData(data, { password, ttl });
      // MUST: read now, as iron-session has just done: a change to `data` while it encrypts is
      // not in the seal, and must not be in the entry either.
      let json: string | undefined;
      try {
        json = JSON.stringify(data);
      } catch {
        json = undefined; // not JSON: iron-session refuses it too (and says why)
      }
      const sealed = await sealing;
      const by = sealingPassword(password);
      if (by && json !== undefined) remember(sealed, json, by.id, by.secret);
      return sealed;
    },

    async unseal<T>(
      sealed: string,
      {
        password,
        ttl,
        onUnsealError,
      }: {
        password: SealPassword;
        ttl: number;
        onUnsealError?: (reason: UnsealErrorReason, error: unknown) => void;
      },
    ): Promise<T | Record<string, never>> {
      const key = sealed.length <= maxSealedLength ? keyOf(sealed) : undefined;
      const entry = key === undefined ? undefined : entries.get(key);
      if (key !== undefined && entry) {
        const opens = passwordMap(password)[entry.passwordId] === entry.secret;
        const current = entry.expiresAt === undefined || Date.now() < entry.expiresAt;
        if (opens && current) {
          entries.delete(key);
          entries.set(key, entry);
          return JSON.parse(entry.json) as T;
        }
        if (!current) entries.delete(key);
      }
      let failed = false;
      const value = await unsealData<T>(sealed, {
        password,
        ttl,
        onUnsealError: (reason, error) => {
          failed = true;
          onUnsealError?.(reason, error);
        },
      });
      if (!failed) {
        const header = readSealHeader(sealed);
        const secret = header ? passwordMap(password)[header.passwordId] : undefined;
        if (header && secret !== undefined)
          remember(sealed, JSON.stringify(value), header.passwordId, secret);
      }
      return value;
    },

    forget(sealed) {
      entries.delete(keyOf(sealed));
    },

    get size() {
      return entries.size;
    },
  };
}
