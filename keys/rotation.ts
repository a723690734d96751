import type { JWK } from 'jose';

import { DEFAULTS } from '../lib/config';

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
 * that no provider is asked to verify a signature from a key it has not fetched yet.
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
 * When a key marked `next` may be promoted.
 *
 * @param publishSeconds how long it must be published first ({@link publishBeforeSigningSeconds}).
 */
export function earliestPromotion(
  key: PrivateJwk,
  publishSeconds = PUBLISH_BEFORE_SIGNING_SECONDS,
): Date | undefined {
  if (stateOf(key) !== 'next' || !key.rotation) return undefined;
  return new Date(Date.parse(key.rotation.since) + publishSeconds * 1000);
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
  if (earliest && now < earliest && !options.force) {
    const wait = Math.ceil((earliest.getTime() - now.getTime()) / 1000);
    throw new RotationError(
      `key ${candidate.kid} has been published for less than ${publishSeconds} s; providers that fetched the JWKS before may not know it yet. ` +
        `Promote at ${earliest.toISOString()} (in ${wait} s), or pass --force if every provider already has it (for example a registered JWKS you updated).`,
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

/** Removes the keys that signed before (`previous`, and unmarked keys after the signing key). */
export function retire(set: PrivateKeySet): { set: PrivateKeySet; retired: readonly PrivateJwk[] } {
  const signing = signingKey(set);
  const retired = set.keys.filter((k) => k !== signing && stateOf(k) !== 'next');
  if (retired.length === 0) throw new RotationError('no previous key to retire');
  return { set: { keys: set.keys.filter((k) => !retired.includes(k)) }, retired };
}
