import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import {
  CLOCK_SKEW_THRESHOLD_SECONDS,
  estimateClockSkew,
  getClockSkew,
  observeProviderClock,
  resetClockSkew,
} from './clock-skew';

/** Response headers of a provider whose clock reads `providerMs`, as a server writes them. */
function headersAt(providerMs: number, age?: number): Headers {
  return new Headers({
    date: new Date(providerMs).toUTCString(),
    ...(age === undefined ? {} : { age: String(age) }),
  });
}

afterEach(() => resetClockSkew());

describe('clock skew from the provider’s Date header', () => {
  it('estimates a lower bound of the offset: corrected times are never in the provider’s future', () => {
    const local = 1_800_000_000_500;
    for (const offsetMs of [
      -3_600_000, -120_000, -2_500, -1_000, -300, 0, 300, 999, 1_000, 2_500, 120_000, 3_600_000,
    ]) {
      for (const latencyMs of [0, 40, 900]) {
        const providerWhenWritten = local + offsetMs;
        const estimate = estimateClockSkew(headersAt(providerWhenWritten), local + latencyMs);
        assert.ok(estimate !== undefined);
        const providerAtArrival = (providerWhenWritten + latencyMs) / 1000;
        const corrected = Math.floor((local + latencyMs) / 1000) + estimate;
        assert.ok(
          corrected <= providerAtArrival,
          `offset ${offsetMs} ms, latency ${latencyMs} ms: ${corrected} > ${providerAtArrival}`,
        );
        assert.ok(
          corrected >= providerAtArrival - 3,
          `offset ${offsetMs} ms, latency ${latencyMs} ms: too far in the past`,
        );
      }
    }
  });

  it('adds the Age of a cached response (RFC 9111 §5.1)', () => {
    const local = 1_800_000_000_000;
    const cachedTwoMinutesAgo = headersAt(local - 120_000, 120);
    assert.equal(estimateClockSkew(cachedTwoMinutesAgo, local), 0);
    assert.equal(
      estimateClockSkew(headersAt(local - 120_000), local),
      -120,
      'without Age the response looks two minutes old',
    );
  });

  it('ignores a missing or unparseable Date', () => {
    assert.equal(estimateClockSkew(new Headers(), Date.now()), undefined);
    assert.equal(estimateClockSkew(new Headers({ date: 'yesterday-ish' }), Date.now()), undefined);
    observeProviderClock(new Headers({ date: 'garbage' }));
    assert.equal(getClockSkew(), 0);
  });

  it('applies offsets from the threshold on, follows the latest response, and returns to 0', () => {
    const now = Date.now();
    observeProviderClock(headersAt(now + 500), now);
    assert.equal(getClockSkew(), 0, 'within the header’s one-second resolution');
    observeProviderClock(headersAt(now - 90_000), now);
    assert.ok(
      getClockSkew() === -90 || getClockSkew() === -91,
      `this machine runs 90 s fast (lower bound: ${getClockSkew()})`,
    );
    observeProviderClock(headersAt(now + (CLOCK_SKEW_THRESHOLD_SECONDS + 1) * 1000), now);
    assert.ok(getClockSkew() >= CLOCK_SKEW_THRESHOLD_SECONDS, 'this machine runs slow');
    observeProviderClock(headersAt(now), now);
    assert.equal(getClockSkew(), 0, 'the clock was fixed');
  });
});
