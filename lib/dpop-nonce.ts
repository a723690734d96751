import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Server-provided DPoP nonces for the protected API (RFC 9449 §9): an opaque value the API hands
 * out in a `DPoP-Nonce` header and then requires in every proof, which bounds how long a proof can
 * be used, whatever the client's clock says.
 *
 * Stateless: a nonce is an HMAC of the current time step under a key derived from the session
 * secret, so every instance that shares `SESSION_SECRET` issues and accepts the same nonces, and
 * nothing is stored. A nonce is good for the step it was issued in and the next one (60 to 120 s).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-9 (resource server-provided nonce)
 */

export type DpopNonces = {
  /** The nonce to hand out now. */
  current(): string;
  /** Whether a proof's `nonce` is one this server issued recently. */
  check(nonce: unknown): boolean;
};

/** Length of a time step, seconds. */
export const DPOP_NONCE_STEP_SECONDS = 60;

/**
 * Nonces keyed by `secret` (HKDF-SHA-256 derives a key for this use alone, so the session secret
 * itself never signs anything visible).
 */
export function createDpopNonces(secret: string, now: () => number = Date.now): DpopNonces {
  const key = Buffer.from(hkdfSync('sha256', secret, 'dpop-nonce', 'api dpop nonce v1', 32));
  const forStep = (step: number) =>
    createHmac('sha256', key).update(String(step)).digest('base64url');
  const step = () => Math.floor(now() / 1000 / DPOP_NONCE_STEP_SECONDS);
  return {
    current: () => forStep(step()),
    check(nonce) {
      if (typeof nonce !== 'string') return false;
      // Compared by bytes: timingSafeEqual throws on buffers of different lengths, and 43
      // characters are more than 43 bytes when some are not ASCII.
      const given = Buffer.from(nonce);
      if (given.length !== 43) return false;
      const s = step();
      return [s, s - 1].some((candidate) =>
        timingSafeEqual(Buffer.from(forStep(candidate)), given),
      );
    },
  };
}
