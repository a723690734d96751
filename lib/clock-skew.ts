import { log } from './log';
import { processSlot } from './process-slot';

/**
 * How far this machine's clock is from the provider's, learned from the `Date` header of the
 * provider's responses, so that client assertions carry the provider's idea of "now".
 *
 * A machine whose clock runs a few seconds fast signs assertions whose `iat` and `nbf` lie in the
 * provider's future, and strict providers answer `invalid_client`; one that runs slow signs
 * assertions that expire early. Every back-channel response refreshes the estimate
 * (lib/back-channel.ts) and every assertion applies the latest one (lib/client-assertion.ts,
 * through openid-client's clock-skew option).
 *
 * The estimate errs on the side of the past: `Date` has a resolution of one second and is written
 * before the response travels, so the provider's clock is at least `Date + Age` when the response
 * arrives. Rounding that lower bound down means a corrected `iat` is never in the provider's
 * future; it may be up to about two seconds in its past, which no provider minds.
 */

/**
 * Offsets smaller than this are within the `Date` header's resolution and are not applied, so an
 * assertion from a machine with a good clock carries its own time.
 */
export const CLOCK_SKEW_THRESHOLD_SECONDS = 2;

/**
 * The offset, in whole seconds, to add to this machine's clock to get (a lower bound of) the
 * provider's, or undefined when the headers carry no usable `Date`.
 *
 * @param receivedAtMs this machine's time when the response arrived.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-6.6.1 (Date)
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-5.1 (Age: time spent in caches)
 */
export function estimateClockSkew(headers: Headers, receivedAtMs: number): number | undefined {
  const date = headers.get('date');
  if (!date) return undefined;
  const providerMs = Date.parse(date);
  if (Number.isNaN(providerMs)) return undefined;
  const age = Number(headers.get('age') ?? 0);
  const providerSeconds = providerMs / 1000 + (Number.isFinite(age) && age > 0 ? age : 0);
  return Math.floor(providerSeconds - receivedAtMs / 1000);
}

const measured = processSlot<{ skew: number }>('clock-skew');

/** Records the clock offset a provider response shows. Called for every back-channel response. */
export function observeProviderClock(headers: Headers, receivedAtMs: number = Date.now()): void {
  const estimate = estimateClockSkew(headers, receivedAtMs);
  if (estimate === undefined) return;
  const skew = Math.abs(estimate) >= CLOCK_SKEW_THRESHOLD_SECONDS ? estimate : 0;
  const previous = measured.get()?.skew ?? 0;
  measured.set({ skew });
  if (skew !== previous) {
    const message =
      skew === 0
        ? 'this machine’s clock agrees with the provider again; assertion times are no longer corrected'
        : `this machine’s clock is ${Math.abs(skew)} s ${skew > 0 ? 'behind' : 'ahead of'} the provider’s; assertion times are corrected (fix the clock: NTP)`;
    log.warn('clock skew', { skew_seconds: skew, detail: message });
  }
}

/** Seconds to add to this machine's clock for assertion times (0 when the clocks agree). */
export function getClockSkew(): number {
  return measured.get()?.skew ?? 0;
}

/** Forgets the measurement (tests). */
export function resetClockSkew(): void {
  measured.set(undefined);
}
