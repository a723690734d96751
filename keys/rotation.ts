import type { JWK } from 'jose';

import { DEFAULTS } from '../lib/config';
import { KEY_FILE_CHECK_INTERVAL_MS } from '../lib/keys';

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
 * How long a rotated-in key must be published before it may sign: the JWKS route's max-age
 * (OIDC_CLIENT_JWKS_MAX_AGE: what providers that honour it cache at most) plus the app's
 * one-second reload check and a few seconds of margin for rounding.
 */
export function publishBeforeSigningSeconds(jwksMaxAgeSeconds: number): number {
  return jwksMaxAgeSeconds + 5;
}

/** {@link publishBeforeSigningSeconds} for the default max-age (60 s, oidc-provider's floor). */
export const PUBLISH_BEFORE_SIGNING_SECONDS = publishBeforeSigningSeconds(
  DEFAULTS.clientJwksMaxAgeSeconds,
);

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

/**
 * An RFC 3339 date-time with its offset, as the tool writes it (`toISOString`). Nothing else is
 * read: `Date.parse` guesses at other text (`"soon 5"` is 1 May 2001, `"2026"` New Year's Day),
 * and a guess in the past would open a gate.
 *
 * @see https://www.rfc-editor.org/rfc/rfc3339#section-5.6
 */
const RFC3339_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** The moment a key entered its rotation state, or undefined when it cannot be read. */
function sinceOf(key: PrivateJwk): number | undefined {
  const since = key.rotation?.since;
  if (typeof since !== 'string' || !RFC3339_DATE_TIME.test(since)) return undefined;
  const ms = Date.parse(since);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The keys `retire` removes: every key after the signing key except the one waiting to sign. */
function leavingKeys(set: PrivateKeySet): PrivateJwk[] {
  return set.keys.slice(1).filter((k) => stateOf(k) !== 'next');
}

/**
 * When a retiring key stopped signing (its `previous` time), or undefined when that is not known:
 * an unreadable time, or no `previous` mark at all (a hand-edited file).
 */
function demotedAt(key: PrivateJwk): number | undefined {
  return stateOf(key) === 'previous' ? sinceOf(key) : undefined;
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
 *
 * @param publishSeconds how long it must be published first ({@link publishBeforeSigningSeconds}).
 */
export function earliestPromotion(
  key: PrivateJwk,
  publishSeconds = PUBLISH_BEFORE_SIGNING_SECONDS,
): Date | undefined {
  if (stateOf(key) !== 'next' || !key.rotation) return undefined;
  const since = sinceOf(key);
  return new Date(since === undefined ? Number.NaN : since + publishSeconds * 1000);
}

/**
 * When the keys that signed before may be retired: once the app reloaded the file that demoted
 * them and the last assertion they signed has expired. Undefined when there is nothing to retire;
 * an invalid Date (never reached) when a retiring key's demotion time cannot be read, or it has
 * none (a key after the signing key without a `previous` mark: moved there by hand).
 *
 * @param lifetimeSeconds the app's assertion lifetime (OIDC_CLIENT_ASSERTION_LIFETIME).
 */
export function earliestRetirement(set: PrivateKeySet, lifetimeSeconds: number): Date | undefined {
  const leaving = leavingKeys(set);
  if (leaving.length === 0) return undefined;
  const times = leaving.map(demotedAt);
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
  options: { kid?: string; force?: boolean; now?: Date; publishSeconds?: number } = {},
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
  const publishSeconds = options.publishSeconds ?? PUBLISH_BEFORE_SIGNING_SECONDS;
  const earliest = earliestPromotion(candidate, publishSeconds);
  if (earliest && Number.isNaN(earliest.getTime()) && !options.force)
    throw unreadableTime(candidate, 'promote it');
  if (earliest && now < earliest && !options.force) {
    const wait = Math.ceil((earliest.getTime() - now.getTime()) / 1000);
    throw new RotationError(
      `key ${candidate.kid} has been published for less than ` +
        `${publishSeconds} s; providers that fetched the JWKS before ` +
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
  signingKey(set);
  const retired = leavingKeys(set);
  if (retired.length === 0) throw new RotationError('no previous key to retire');
  const earliest = earliestRetirement(set, options.lifetimeSeconds);
  const now = options.now ?? new Date();
  if (earliest && !options.force) {
    const unknown = retired.find((k) => demotedAt(k) === undefined);
    if (unknown) throw unreadableTime(unknown, 'retire it');
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
