import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SeenJtis } from './replay-detection';

describe('the provider’s memory of accepted jti values', () => {
  const now = 1_800_000_000_000;
  const exp = now / 1000 + 60;

  it('refuses a jti seen before, until its JWT expires; per issuer', () => {
    const seen = new SeenJtis();
    assert.equal(seen.claim('client', 'a', exp, now), true);
    assert.equal(seen.claim('client', 'a', exp, now + 59_000), false);
    assert.equal(seen.claim('other-client', 'a', exp, now), true);
    // No concatenation ambiguity: ("client", "a") is not ("clienta", "").
    assert.equal(seen.claim('clien', 'ta', exp, now), true);
    assert.equal(seen.claim('client', 'a', exp, now + 60_000), true, 'expired: forgotten');
  });

  it('keeps every live jti however many arrive, and forgets expired ones', () => {
    const seen = new SeenJtis();
    for (let i = 0; i < 5_000; i++) assert.equal(seen.claim('client', `old-${i}`, exp, now), true);
    for (let i = 0; i < 5_000; i++)
      assert.equal(seen.claim('client', `new-${i}`, exp + 120, now + 61_000), true);
    for (let i = 0; i < 5_000; i += 97)
      assert.equal(seen.claim('client', `new-${i}`, exp + 120, now + 62_000), false);
    assert.ok(seen.size < 7_000, `expired entries swept (${seen.size} kept)`);
  });
});
