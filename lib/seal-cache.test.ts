import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';

import { sealData, unsealData } from 'iron-session';

import { createSealCache } from './seal-cache';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const C = 'c'.repeat(32);

/** Key derivations iron-session asks WebCrypto for: two per seal, two per unseal, none on a hit. */
let derivations: { mock: { callCount(): number } };
beforeEach(() => {
  derivations = mock.method(globalThis.crypto.subtle, 'deriveKey');
});
afterEach(() => {
  mock.restoreAll();
  mock.timers.reset();
});

function flip(sealed: string, at: number): string {
  return `${sealed.slice(0, at)}${sealed[at] === 'A' ? 'B' : 'A'}${sealed.slice(at + 1)}`;
}

describe('createSealCache', () => {
  it('remembers what was sealed when sealing began, not what the object holds when it ends', async () => {
    const cache = createSealCache();
    const data = { id: 'x', list: [1] };
    const sealing = cache.seal(data, { password: A, ttl: 600 });
    // iron-session serialised the value when called; a change meanwhile is not in the cookie.
    data.list.push(2);
    const sealed = await sealing;
    const fromIron = await unsealData(sealed, { password: A, ttl: 600 });
    assert.deepEqual(fromIron, { id: 'x', list: [1] });
    assert.deepEqual(await cache.unseal(sealed, { password: A, ttl: 600 }), fromIron);
  });

  it('opens what it sealed without any crypto, and each hit is a fresh copy', async () => {
    const cache = createSealCache();
    const sealed = await cache.seal({ id: 'x', list: [1] }, { password: A, ttl: 600 });
    const before = derivations.mock.callCount();
    const first = await cache.unseal<{ id: string; list: number[] }>(sealed, {
      password: A,
      ttl: 600,
    });
    assert.deepEqual(first, { id: 'x', list: [1] });
    assert.equal(derivations.mock.callCount(), before, 'no key derived for a hit');
    (first as { list: number[] }).list.push(2);
    assert.deepEqual(await cache.unseal(sealed, { password: A, ttl: 600 }), { id: 'x', list: [1] });
  });

  it('is interchangeable with iron-session: each opens what the other sealed', async () => {
    const cache = createSealCache();
    const byCache = await cache.seal({ n: 1 }, { password: A, ttl: 600 });
    assert.deepEqual(await unsealData(byCache, { password: A, ttl: 600 }), { n: 1 });
    const byIron = await sealData({ n: 2 }, { password: A, ttl: 600 });
    const before = derivations.mock.callCount();
    assert.deepEqual(await cache.unseal(byIron, { password: A, ttl: 600 }), { n: 2 });
    assert.equal(derivations.mock.callCount() - before, 2, 'the first opening is iron-session’s');
    assert.deepEqual(await cache.unseal(byIron, { password: A, ttl: 600 }), { n: 2 });
    assert.equal(derivations.mock.callCount() - before, 2, 'the second is a hit');
  });

  it('answers only a password set holding the secret it was sealed under', async () => {
    const cache = createSealCache();
    const sealed = await cache.seal({ n: 1 }, { password: { 1: A }, ttl: 600 });
    const reasons: string[] = [];
    const onUnsealError = (reason: string) => reasons.push(reason);
    // A rotation: the previous secret still opens.
    assert.deepEqual(await cache.unseal(sealed, { password: { 1: A, 2: B }, ttl: 600 }), { n: 1 });
    // Dropped, or the same id with another secret: refused, as iron-session refuses.
    assert.deepEqual(
      await cache.unseal(sealed, { password: { 2: B }, ttl: 600, onUnsealError }),
      {},
    );
    assert.deepEqual(
      await cache.unseal(sealed, { password: { 1: C }, ttl: 600, onUnsealError }),
      {},
    );
    assert.deepEqual(await cache.unseal(sealed, { password: B, ttl: 600, onUnsealError }), {});
    assert.deepEqual(reasons, ['unknown-password', 'invalid', 'invalid']);
    // And still opens with its own.
    assert.deepEqual(await cache.unseal(sealed, { password: A, ttl: 600 }), { n: 1 });
  });

  it('never answers for an expired seal it remembers', async () => {
    const cache = createSealCache();
    mock.timers.enable({ apis: ['Date'], now: Date.now() - 600_000 });
    const sealed = await cache.seal({ n: 1 }, { password: A, ttl: 60 });
    mock.timers.reset();
    const reasons: string[] = [];
    const value = await cache.unseal(sealed, {
      password: A,
      ttl: 60,
      onUnsealError: (reason) => reasons.push(reason),
    });
    assert.deepEqual(value, {});
    assert.deepEqual(reasons, ['expired']);
    assert.equal(cache.size, 0, 'the stale entry is gone');
  });

  it('lets tampered and malformed values fail in iron-session, and remembers none', async () => {
    const cache = createSealCache();
    const sealed = await cache.seal({ n: 1 }, { password: A, ttl: 600 });
    for (const value of [flip(sealed, 60), sealed.slice(0, -3), 'Fe26.2**x*y*z**a*b', '', 'junk']) {
      assert.deepEqual(await cache.unseal(value, { password: A, ttl: 600 }), {});
    }
    assert.equal(cache.size, 1);
  });

  it('reads the seal proper: a different version suffix is the same entry', async () => {
    const cache = createSealCache();
    const sealed = await cache.seal({ n: 1 }, { password: A, ttl: 600 });
    const before = derivations.mock.callCount();
    assert.deepEqual(await cache.unseal(`${sealed}9`, { password: A, ttl: 600 }), { n: 1 });
    assert.equal(derivations.mock.callCount(), before);
    assert.equal(cache.size, 1);
  });

  it('forgets a consumed value, and keeps no more entries than allowed', async () => {
    const cache = createSealCache({ maxEntries: 2 });
    // One after the other: an entry is kept when its seal completes, and concurrent seals may
    // complete in any order (the third first, then evicted by the other two).
    const one = await cache.seal({ n: 1 }, { password: A, ttl: 600 });
    const two = await cache.seal({ n: 2 }, { password: A, ttl: 600 });
    const three = await cache.seal({ n: 3 }, { password: A, ttl: 600 });
    assert.ok(one && two && three);
    assert.equal(cache.size, 2);
    let before = derivations.mock.callCount();
    assert.deepEqual(await cache.unseal(three, { password: A, ttl: 600 }), { n: 3 });
    assert.equal(derivations.mock.callCount(), before, 'a recent one is a hit');
    cache.forget(three);
    before = derivations.mock.callCount();
    assert.deepEqual(await cache.unseal(three, { password: A, ttl: 600 }), { n: 3 });
    assert.equal(derivations.mock.callCount() - before, 2, 'a forgotten one is opened again');
  });

  it('keeps no value longer than allowed', async () => {
    const cache = createSealCache({ maxSealedLength: 100 });
    await cache.seal({ n: 1 }, { password: A, ttl: 600 });
    assert.equal(cache.size, 0);
  });
});
