import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { decideMachineAccess } from './machine-access';

describe('who may use the app’s identity on /machine', () => {
  it('a signed-in user, anywhere', () => {
    for (const env of ['production', 'development', 'test', undefined])
      assert.deepEqual(decideMachineAccess(true, env), { allowed: true, because: 'signed_in' });
  });

  it('an anonymous visitor only in development', () => {
    assert.deepEqual(decideMachineAccess(false, 'development'), {
      allowed: true,
      because: 'development',
    });
    for (const env of ['production', 'test', '', 'Development', undefined])
      assert.deepEqual(decideMachineAccess(false, env), { allowed: false }, String(env));
  });
});
