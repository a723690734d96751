import { log } from './log';
import { processSlot } from './process-slot';

/**
 * How far this machine's clock is from the provider's, learned from the `Date` header of the
 * provider's token-endpoint responses, so that client assertions carry the provider's idea of
 * "now".
 *
 * A machine whose clock runs a few seconds fast signs assertions whose `iat` and `nbf` lie in the
 * provider's future, and strict providers answer `invalid_client`; one that runs slow signs
 * assertions that expire early. Every assertion applies the current estimate
 * (lib/client-assertion.ts, through openid-client's clock-skew option).
 *
 * Because the estimate moves every assertion the app signs, what feeds it is narrow:
 *
 * - MUST: only responses to POST requests to the token endpoint count. Nothing caches them, and
 *   only the provider answers them; discovery and JWKS responses are cacheable, and anyone can make
 *   the app refetch the JWKS (a bearer token with an unknown `kid`), so a stale or hostile `Date`
 *   there must move nothing. A response that carries `Age` came out of a cache all the same and is
 *   ignored.
 * - MUST: the offset is capped ({@link DEFAULT_MAX_CLOCK_SKEW_SECONDS}, `OIDC_CLOCK_SKEW_MAX`); a
 *   larger one is refused and logged once: a provider clock that far off needs a human, and an
 *   unbounded correction lets one response date the assertions anywhere.
 * - Each response gives an interval, not a point: `Date` is truncated to the second and was
 *   written at some moment between sending the request and receiving the answer. The offset is
 *   applied only when the whole interval lies beyond {@link CLOCK_SKEW_THRESHOLD_SECONDS}. Two
 *   processes that share one clock therefore never correct (the interval always contains 0), even
 *   under load, and a sample that proves an offset by less than a second beyond the threshold acts
 *   only when the sample before it proved the same.
 *
 * The offset applied is the interval's lower bound, rounded down: a corrected `iat` is never in
 * the provider's future; it may be a second or two in its past, which no provider minds.
 */

/**
 * Offsets smaller than this are within the `Date` header's resolution and the round trip, and are
 * not applied, so an assertion from a machine with a good clock carries its own time.
 */
export const CLOCK_SKEW_THRESHOLD_SECONDS = 2;

/** The log announces a corrected offset again only when it moves by more than this. */
const ANNOUNCE_CHANGE_SECONDS = 5;

/** The largest offset applied unless `OIDC_CLOCK_SKEW_MAX` says otherwise. */
export const DEFAULT_MAX_CLOCK_SKEW_SECONDS = 300;

/**
 * What one response says about the provider's clock: its offset from this machine's clock lies
 * in `[low, high]` seconds (positive: the provider is ahead).
 */
export type ClockSample = { readonly low: number; readonly high: number };

/**
 * The interval of offsets (provider minus this machine, seconds) that a response's `Date` header
 * allows, or undefined when the response carries no usable `Date` or came from a cache (`Age`).
 *
 * The provider wrote `Date` (truncated to the second: its clock read between `Date` and `Date + 1`)
 * at some moment between `sentAtMs` and `receivedAtMs` on this machine's clock.
 *
 * @param sentAtMs this machine's time when the request was sent.
 * @param receivedAtMs this machine's time when the response arrived.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-6.6.1 (Date: one-second resolution)
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-5.1 (Age: the response came from a cache)
 */
export function estimateClockOffset(
  headers: Headers,
  sentAtMs: number,
  receivedAtMs: number,
): ClockSample | undefined {
  if (headers.has('age')) return undefined;
  const date = headers.get('date');
  if (!date) return undefined;
  const providerMs = Date.parse(date);
  if (Number.isNaN(providerMs) || receivedAtMs < sentAtMs) return undefined;
  const providerSeconds = Math.floor(providerMs / 1000);
  return {
    low: providerSeconds - receivedAtMs / 1000,
    high: providerSeconds + 1 - sentAtMs / 1000,
  };
}

type Verdict = 'ahead' | 'behind' | 'agree' | 'unclear';

/** What a sample proves about the offset, relative to the threshold. */
function judge(sample: ClockSample): Verdict {
  const t = CLOCK_SKEW_THRESHOLD_SECONDS;
  if (sample.low >= t) return 'ahead';
  if (sample.high <= -t) return 'behind';
  if (sample.low > -t && sample.high < t) return 'agree';
  return 'unclear';
}

export type ClockSkewSettings = {
  /** The largest offset, in seconds, that is applied (`OIDC_CLOCK_SKEW_MAX`); 0 never corrects. */
  readonly maxSeconds: number;
  /** The provider's token endpoint: the only URL whose responses are samples. */
  readonly tokenEndpoint: string | undefined;
};

type ClockState = {
  settings: ClockSkewSettings;
  /** Seconds added to this machine's clock for assertion times. */
  skew: number;
  /** The last offset announced in the log (0: none). */
  announced: number;
  /** What the previous sample proved. */
  previous: Verdict | undefined;
  /** Whether a refused offset has been logged since the last accepted one. */
  refusalLogged: boolean;
  samples: number;
};

const state = processSlot<ClockState>('clock-skew');

function current(): ClockState {
  let s = state.get();
  if (!s) {
    s = {
      settings: { maxSeconds: DEFAULT_MAX_CLOCK_SKEW_SECONDS, tokenEndpoint: undefined },
      skew: 0,
      announced: 0,
      previous: undefined,
      refusalLogged: false,
      samples: 0,
    };
    state.set(s);
  }
  return s;
}

/**
 * Sets the cap and the token endpoint whose responses are samples (from discovery). Keeps what
 * was learned so far.
 */
export function configureClockSkew(settings: ClockSkewSettings): void {
  current().settings = Object.freeze({ ...settings });
}

/** Whether a response to a request is a sample: a POST to the token endpoint. */
export function isClockSource(method: string, url: string): boolean {
  const { tokenEndpoint } = current().settings;
  if (method.toUpperCase() !== 'POST' || tokenEndpoint === undefined) return false;
  try {
    const a = new URL(url);
    const b = new URL(tokenEndpoint);
    return a.origin === b.origin && a.pathname === b.pathname;
  } catch {
    return false;
  }
}

function describe(skew: number): string {
  return `${Math.abs(skew)} s ${skew > 0 ? 'behind' : 'ahead of'}`;
}

/** Applies one sample's interval to the estimate (see the module comment for the rules). */
export function recordClockSample(sample: ClockSample): void {
  const s = current();
  s.samples += 1;
  const verdict = judge(sample);
  const previous = s.previous;
  s.previous = verdict;
  if (verdict === 'unclear') return;
  if (verdict === 'agree') {
    if (s.skew !== 0) {
      log.warn('clock skew', {
        skew_seconds: 0,
        detail:
          'this machine’s clock agrees with the provider’s again; assertion times are no longer corrected',
      });
    }
    s.skew = 0;
    s.announced = 0;
    s.refusalLogged = false;
    return;
  }
  const t = CLOCK_SKEW_THRESHOLD_SECONDS;
  const proven = verdict === 'ahead' ? sample.low : -sample.high;
  // At the threshold one sample is not enough: a late `Date` (servers cache it per second) or a
  // long round trip can take a good clock just past it once.
  if (proven < t + 1 && previous !== verdict) return;
  const candidate = Math.floor(sample.low);
  if (Math.abs(candidate) > s.settings.maxSeconds) {
    if (!s.refusalLogged) {
      s.refusalLogged = true;
      log.warn('clock skew refused', {
        skew_seconds: candidate,
        max_seconds: s.settings.maxSeconds,
        detail:
          `the provider’s Date header puts this machine’s clock ${describe(candidate)} ` +
          `the provider’s, beyond OIDC_CLOCK_SKEW_MAX; assertion times are not corrected ` +
          `by it (fix the clock that is wrong: NTP)`,
      });
    }
    return;
  }
  s.refusalLogged = false;
  s.skew = candidate;
  if (
    Math.sign(candidate) !== Math.sign(s.announced) ||
    Math.abs(candidate - s.announced) > ANNOUNCE_CHANGE_SECONDS
  ) {
    s.announced = candidate;
    log.warn('clock skew', {
      skew_seconds: candidate,
      detail:
        `this machine’s clock is ${describe(candidate)} the provider’s; assertion ` +
        `times are corrected (fix the clock: NTP)`,
    });
  }
}

/**
 * Records what a provider response shows about its clock, when it is a sample: a response to a
 * POST to the token endpoint, not from a cache, with a `Date`. Called for every back-channel
 * response (lib/back-channel.ts).
 */
export function observeProviderResponse(
  request: { readonly method: string; readonly url: string },
  headers: Headers,
  sentAtMs: number,
  receivedAtMs: number,
): void {
  if (!isClockSource(request.method, request.url)) return;
  const sample = estimateClockOffset(headers, sentAtMs, receivedAtMs);
  if (sample) recordClockSample(sample);
}

/** Whether any sample has been taken in this process. */
export function hasClockSample(): boolean {
  return current().samples > 0;
}

/** Seconds to add to this machine's clock for assertion times (0 when the clocks agree). */
export function getClockSkew(): number {
  return current().skew;
}

/** Forgets the measurement and the settings (tests). */
export function resetClockSkew(): void {
  state.set(undefined);
}
