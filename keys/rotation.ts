import type { JWK } from 'jose';

import { JWKS_MAX_AGE_SECONDS, KEY_FILE_CHECK_INTERVAL_MS } from '../lib/keys';

/**
 * Key rotation on a private JWK Set file, without downtime. The file's order is the app's
 * contract: the first key signs, every key is published (lib/keys.ts). Rotation therefore moves
 * keys through three states, recorded on each private JWK as `rotation` (a member of the private
 * file only; published JWKs are rebuilt from the key and never carry it):
 *
 *   rotate   A(signs)               → A(signs), B(next)          B is published, A still signs
 *   promote  A(signs), B(next)      → B(signs), A(previous)      B signs, A still published
 *   retire   B(signs), A(previous)  → B(signs)                   A is gone
 *
 * `promote` waits until B has been published for longer than providers may cache the JWKS, so
 * that no provider is asked to verify a signature from a key it has not fetched yet. `retire` waits
 * until no assertion A signed can still be accepted: the app may sign with A until it reloads the
 * file, and what it signed last is valid for one assertion lifetime.
 *
 * MUST: a rotation time that cannot be read means "not yet": the gate is there to stop a step
 * taken too early, so it must not open on a hand-edited or truncated file (`--force` overrides).
 */

export type RotationState = 'next' | 'previous';

/** A private JWK as the key tool writes it. */
export type PrivateJwk = JWK & {
  kid: string;
  alg: string;
  rotation?: { state: RotationState; since: string };
};

export type PrivateKeySet = { readonly keys: readonly PrivateJwk[] };

/**
 * How long a rotated-in key must be published before it may sign: the JWKS route's max-age (what
 * oidc-provider, and most providers, cache at least that long) plus the app's one-second reload
 * check and a few seconds of margin for rounding.
 */
export const PUBLISH_BEFORE_SIGNING_SECONDS = JWKS_MAX_AGE_SECONDS + 5;

/**
 * Margin added to the retirement gate: rounding of the times, the request in flight, and the
 * clock tolerance providers allow past `exp`.
 */
export const RETIRE_MARGIN_SECONDS = 5;

/** A refusal that names what to do instead. */
export class RotationError extends Error {
  override name = 'RotationError';
}

function stateOf(key: PrivateJwk): RotationState | undefined {
  return key.rotation?.state;
}

function withoutRotation(key: PrivateJwk): PrivateJwk {
  const { rotation: _rotation, ...rest } = key;
  return rest;
}

/** The key that signs: the first. */
export function signingKey(set: PrivateKeySet): PrivateJwk {
  const [first] = set.keys;
  if (!first) throw new RotationError('the key file holds no key');
  return first;
}

/** The moment a key entered its rotation state, or undefined when it cannot be read. */
function sinceOf(key: PrivateJwk): number | undefined {
  const since = key.rotation?.since;
  if (typeof since !== 'string') return undefined;
  const ms = Date.parse(since);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Why a gate stays shut for a key whose rotation time cannot be read. */
function unreadableTime(key: PrivateJwk, step: string): RotationError {
  return new RotationError(
    `key ${key.kid} has no readable rotation time (rotation.since: ${JSON.stringify(key.rotation?.since)}), ` +
      `so it is not known to be safe to ${step} yet. Pass --force if you know it is.`,
  );
}

/**
 * When a key marked `next` may be promoted: undefined when it is not waiting, an invalid Date
 * (never reached) when its rotation time cannot be read.
 */
export function earliestPromotion(key: PrivateJwk): Date | undefined {
  if (stateOf(key) !== 'next' || !key.rotation) return undefined;
  const since = sinceOf(key);
  return new Date(since === undefined ? Number.NaN : since + PUBLISH_BEFORE_SIGNING_SECONDS * 1000);
}

/**
 * When the keys that signed before may be retired: once the app reloaded the file that demoted
 * them and the last assertion they signed has expired. Undefined when there is nothing to wait
 * for (no `previous` key); an invalid Date (never reached) when a rotation time cannot be read.
 *
 * @param lifetimeSeconds the app's assertion lifetime (OIDC_CLIENT_ASSERTION_LIFETIME).
 */
export function earliestRetirement(set: PrivateKeySet, lifetimeSeconds: number): Date | undefined {
  const previous = set.keys.filter((k) => stateOf(k) === 'previous');
  if (previous.length === 0) return undefined;
  const times = previous.map(sinceOf);
  if (times.some((t) => t === undefined)) return new Date(Number.NaN);
  const demoted = Math.max(...(times as number[]));
  return new Date(
    demoted + (lifetimeSeconds + RETIRE_MARGIN_SECONDS) * 1000 + KEY_FILE_CHECK_INTERVAL_MS,
  );
}

/** Adds `next` to the set: published from now on, not signing. */
export function rotateIn(set: PrivateKeySet, next: PrivateJwk, now = new Date()): PrivateKeySet {
  const pending = set.keys.find((k) => stateOf(k) === 'next');
  if (pending)
    throw new RotationError(
      `key ${pending.kid} is already waiting to be promoted; promote it first`,
    );
  if (set.keys.some((k) => k.kid === next.kid))
    throw new RotationError(`the key set already holds kid ${next.kid}`);
  return {
    keys: [...set.keys, { ...next, rotation: { state: 'next', since: now.toISOString() } }],
  };
}

/**
 * Makes the `next` key (or the key `kid`) the signing key; the former signing key stays published
 * as `previous` until retired.
 *
 * @param force promote even if the key has not been published long enough.
 */
export function promote(
  set: PrivateKeySet,
  options: { kid?: string; force?: boolean; now?: Date } = {},
): { set: PrivateKeySet; promoted: PrivateJwk; demoted: PrivateJwk } {
  const now = options.now ?? new Date();
  const current = signingKey(set);
  const candidate = options.kid
    ? set.keys.find((k) => k.kid === options.kid)
    : set.keys.find((k) => stateOf(k) === 'next');
  if (!candidate) {
    throw new RotationError(
      options.kid
        ? `no key with kid ${options.kid}`
        : 'no key is waiting to be promoted: run `rotate` first (or pass --kid)',
    );
  }
  if (candidate === current) throw new RotationError(`key ${candidate.kid} already signs`);
  const earliest = earliestPromotion(candidate);
  if (earliest && Number.isNaN(earliest.getTime()) && !options.force)
    throw unreadableTime(candidate, 'promote it');
  if (earliest && now < earliest && !options.force) {
    const wait = Math.ceil((earliest.getTime() - now.getTime()) / 1000);
    throw new RotationError(
      `key ${candidate.kid} has been published for less than ` +
        `${PUBLISH_BEFORE_SIGNING_SECONDS} s; providers that fetched the JWKS before ` +
        `may not know it yet. ` +
        `Promote at ${earliest.toISOString()} (in ${wait} s), or pass --force if every ` +
        `provider already has it (for example a registered JWKS you updated).`,
    );
  }
  const promoted = withoutRotation(candidate);
  const demoted: PrivateJwk = {
    ...withoutRotation(current),
    rotation: { state: 'previous', since: now.toISOString() },
  };
  const rest = set.keys.filter((k) => k !== candidate && k !== current);
  return { set: { keys: [promoted, demoted, ...rest] }, promoted, demoted };
}

/**
 * Removes the keys that signed before (`previous`, and unmarked keys after the signing key), once
 * no assertion they signed can still be accepted (see {@link earliestRetirement}).
 *
 * @param options.lifetimeSeconds the app's assertion lifetime (OIDC_CLIENT_ASSERTION_LIFETIME).
 * @param options.force retire at once.
 */
export function retire(
  set: PrivateKeySet,
  options: { lifetimeSeconds: number; force?: boolean; now?: Date },
): { set: PrivateKeySet; retired: readonly PrivateJwk[] } {
  const signing = signingKey(set);
  const retired = set.keys.filter((k) => k !== signing && stateOf(k) !== 'next');
  if (retired.length === 0) throw new RotationError('no previous key to retire');
  const earliest = earliestRetirement(set, options.lifetimeSeconds);
  const now = options.now ?? new Date();
  if (earliest && !options.force) {
    const previous = retired.find((k) => stateOf(k) === 'previous') ?? retired[0];
    if (Number.isNaN(earliest.getTime()) && previous) throw unreadableTime(previous, 'retire it');
    if (now < earliest) {
      const wait = Math.ceil((earliest.getTime() - now.getTime()) / 1000);
      throw new RotationError(
        `assertions signed by ${retired.map((k) => k.kid).join(', ')} may still be valid: the app signs ` +
          `with the new key within ${KEY_FILE_CHECK_INTERVAL_MS / 1000} s of the promotion, and an ` +
          `assertion lives ${options.lifetimeSeconds} s (OIDC_CLIENT_ASSERTION_LIFETIME). ` +
          `Retire at ${earliest.toISOString()} (in ${wait} s), or pass --force.`,
      );
    }
  }
  return { set: { keys: set.keys.filter((k) => !retired.includes(k)) }, retired };
}
