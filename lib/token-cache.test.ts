import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  createTokenCache,
  REFRESH_MARGIN_SECONDS,
  computeRefreshDelay,
  type Clock,
  type FetchedToken,
} from './token-cache';

/**
 * The cache's timing and single-flight rules, with a fake clock and a token endpoint that counts
 * its requests and answers when the test says so.
 */

class FakeClock implements Clock {
  ms = 1_000_000;
  wallOffset = 1_700_000_000_000;
  monotonic(): number {
    return this.ms;
  }
  wall(): number {
    return this.wallOffset + this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** A token endpoint whose answers the test releases by hand. */
class FakeTokenEndpoint {
  requests = 0;
  private pending: Array<{
    resolve: (v: FetchedToken<string>) => void;
    reject: (e: unknown) => void;
  }> = [];

  request = (): Promise<FetchedToken<string>> => {
    this.requests++;
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  };

  /** Answers the oldest request; 'none' sends no expires_in. */
  answer(expiresIn: number | 'none' = 300): void {
    const next = this.pending.shift();
    assert.ok(next, 'no request pending');
    next.resolve({
      token: `token-${this.requests}`,
      expiresIn: expiresIn === 'none' ? undefined : expiresIn,
    });
  }

  fail(error: unknown): void {
    const next = this.pending.shift();
    assert.ok(next, 'no request pending');
    next.reject(error);
  }

  get waiting(): number {
    return this.pending.length;
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('token cache', () => {
  it('100 concurrent callers cause exactly one token request and all get its token', async () => {
    const endpoint = new FakeTokenEndpoint();
    const cache = createTokenCache(endpoint.request, new FakeClock());
    const callers = Array.from({ length: 100 }, () => cache.get());
    await tick();
    assert.equal(endpoint.requests, 1);
    endpoint.answer();
    const leases = await Promise.all(callers);
    assert.equal(endpoint.requests, 1);
    assert.deepEqual(new Set(leases.map((l) => l.token)), new Set(['token-1']));
    assert.equal(leases.filter((l) => l.source === 'token_endpoint').length, 1);
    assert.equal(leases.filter((l) => l.source === 'in_flight').length, 99);

    const later = await Promise.all(Array.from({ length: 100 }, () => cache.get()));
    assert.equal(endpoint.requests, 1);
    assert.ok(later.every((l) => l.source === 'cache' && l.token === 'token-1'));
  });

  it('keeps the token until shortly before it expires, then requests one new token for all', async () => {
    const clock = new FakeClock();
    const endpoint = new FakeTokenEndpoint();
    const cache = createTokenCache(endpoint.request, clock);
    const first = cache.get();
    await tick();
    endpoint.answer(300);
    const lease = await first;
    assert.equal(lease.expiresAt, clock.wall() + 300_000);
    assert.equal(lease.refreshAt, clock.wall() + (300 - REFRESH_MARGIN_SECONDS) * 1000);

    clock.advance(300 - REFRESH_MARGIN_SECONDS - 1);
    assert.equal((await cache.get()).source, 'cache');
    assert.equal(endpoint.requests, 1);

    clock.advance(1);
    const renewals = Array.from({ length: 20 }, () => cache.get());
    await tick();
    assert.equal(endpoint.requests, 2);
    endpoint.answer(300);
    const renewed = await Promise.all(renewals);
    assert.ok(renewed.every((l) => l.token === 'token-2'));
    assert.equal((await cache.get()).token, 'token-2');
  });

  it('counts the lifetime from when the request was sent, not when the answer came', async () => {
    const clock = new FakeClock();
    const endpoint = new FakeTokenEndpoint();
    const cache = createTokenCache(endpoint.request, clock);
    const sentAt = clock.wall();
    const first = cache.get();
    await tick();
    clock.advance(20); // a slow provider
    endpoint.answer(60);
    const lease = await first;
    assert.equal(lease.expiresAt, sentAt + 60_000);
    clock.advance(10); // 30 s after sending: refresh point of a 60 s token
    void cache.get();
    await tick();
    assert.equal(endpoint.requests, 2);
  });

  it('refreshes 30 s before expiry, short-lived tokens at half their lifetime', () => {
    assert.equal(computeRefreshDelay(3600), 3570);
    assert.equal(computeRefreshDelay(300), 270);
    assert.equal(computeRefreshDelay(60), 30);
    assert.equal(computeRefreshDelay(40), 20);
    assert.equal(computeRefreshDelay(1), 0.5);
  });

  it('does not cache a failed request: every waiting caller gets the error, the next call tries again', async () => {
    const endpoint = new FakeTokenEndpoint();
    const cache = createTokenCache(endpoint.request, new FakeClock());
    const failing = Array.from({ length: 10 }, () => cache.get());
    await tick();
    endpoint.fail(new Error('invalid_client'));
    const results = await Promise.allSettled(failing);
    assert.ok(
      results.every(
        (r) => r.status === 'rejected' && (r.reason as Error).message === 'invalid_client',
      ),
    );
    assert.equal(endpoint.requests, 1);

    const retry = cache.get();
    await tick();
    assert.equal(endpoint.requests, 2);
    endpoint.answer();
    assert.equal((await retry).source, 'token_endpoint');
    assert.equal((await cache.get()).source, 'cache');
  });

  it('keeps nothing when the provider sends no expires_in, but still shares the request in flight', async () => {
    const endpoint = new FakeTokenEndpoint();
    const cache = createTokenCache(endpoint.request, new FakeClock());
    const together = [cache.get(), cache.get(), cache.get()];
    await tick();
    endpoint.answer('none');
    assert.deepEqual(
      (await Promise.all(together)).map((l) => l.source),
      ['token_endpoint', 'in_flight', 'in_flight'],
    );
    const next = cache.get();
    await tick();
    assert.equal(endpoint.requests, 2);
    endpoint.answer(0);
    assert.equal((await next).expiresAt, undefined);
    void cache.get();
    await tick();
    assert.equal(endpoint.requests, 3);
  });

  it('forgets a refused token, but only that one', async () => {
    const endpoint = new FakeTokenEndpoint();
    const cache = createTokenCache(endpoint.request, new FakeClock());
    const first = cache.get();
    await tick();
    endpoint.answer();
    const { token } = await first;
    cache.forget('some-older-token');
    assert.equal((await cache.get()).source, 'cache');
    cache.forget(token);
    const next = cache.get();
    await tick();
    assert.equal(endpoint.requests, 2);
    endpoint.answer();
    assert.equal((await next).token, 'token-2');
    assert.equal(endpoint.waiting, 0);
  });
});
