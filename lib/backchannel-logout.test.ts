import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { endLoggedOutSessions } from './backchannel-logout';
import type { SessionRecord } from './session-record';
import {
  createMemorySessionStore,
  createSessionId,
  SessionStoreUnavailableError,
  type SessionStore,
} from './session-store';

function makeRecord(sub: string, sid: string | undefined): SessionRecord {
  const now = Date.now();
  return {
    id: createSessionId(),
    sub,
    sid,
    created_at: now,
    expires_at: now + 60_000,
    user: { sub, signed_in_at: Math.floor(now / 1000), id_token: 'header.payload.signature' },
    tokens: {},
  };
}

/** The store, with its removals failing the first `failures` times (a Redis blip). */
function withFailingRemovals(store: SessionStore, failures: number): SessionStore {
  let left = failures;
  const fail = () => {
    left -= 1;
    return Promise.reject(new SessionStoreUnavailableError('removal: no answer within 2000 ms'));
  };
  return {
    ...store,
    removeBySid: (sid, sub) => (left > 0 ? fail() : store.removeBySid(sid, sub)),
    removeBySub: (sub) => (left > 0 ? fail() : store.removeBySub(sub)),
  };
}

const inAMinute = () => Date.now() / 1000 + 60;

describe('endLoggedOutSessions', () => {
  it('ends the sessions of the sid, or of the sub, and the jti stays remembered', async () => {
    const store = createMemorySessionStore();
    const a = makeRecord('alice', 'op-1');
    const b = makeRecord('alice', 'op-2');
    const c = makeRecord('bob', 'op-3');
    for (const r of [a, b, c]) await store.create(r);

    assert.equal(await store.rememberOnce('jti-1', inAMinute()), true);
    const bySid = await endLoggedOutSessions(store, { sid: 'op-1', sub: 'alice', jti: 'jti-1' });
    assert.deepEqual(
      bySid.map((r) => r.id),
      [a.id],
    );
    assert.equal(await store.get(b.id).then((s) => s?.state), 'active');
    assert.equal(await store.rememberOnce('jti-1', inAMinute()), false, 'a replay is refused');

    const bySub = await endLoggedOutSessions(store, { sub: 'alice', jti: 'jti-2' });
    assert.deepEqual(
      bySub.map((r) => r.id),
      [b.id],
    );
    assert.equal(await store.get(c.id).then((s) => s?.state), 'active');
  });

  it('a token naming a sid and a sub ends the sessions of that sid of that user only (§2.7)', async () => {
    const store = createMemorySessionStore();
    const alice = makeRecord('alice', 'op-1');
    await store.create(alice);

    // The sid of alice's session with bob's sub: the session it names is none of alice's.
    const ended = await endLoggedOutSessions(store, { sid: 'op-1', sub: 'bob', jti: 'jti-3' });
    assert.deepEqual(ended, []);
    assert.equal(await store.get(alice.id).then((s) => s?.state), 'active');

    const byBoth = await endLoggedOutSessions(store, { sid: 'op-1', sub: 'alice', jti: 'jti-4' });
    assert.deepEqual(
      byBoth.map((r) => r.id),
      [alice.id],
    );
  });

  it('when the store fails, forgets the jti: the provider’s retry is taken and ends the session', async () => {
    const store = createMemorySessionStore();
    const session = makeRecord('alice', 'op-1');
    await store.create(session);
    const flaky = withFailingRemovals(store, 1);
    const token = { sid: 'op-1', sub: 'alice', jti: 'jti-retried' };

    // The route validated the token: its jti is remembered.
    assert.equal(await flaky.rememberOnce(token.jti, inAMinute()), true);
    await assert.rejects(endLoggedOutSessions(flaky, token), SessionStoreUnavailableError);
    assert.equal(await store.get(session.id).then((s) => s?.state), 'active');

    // The provider retries the same token after the 503: not a replay.
    assert.equal(await flaky.rememberOnce(token.jti, inAMinute()), true);
    const ended = await endLoggedOutSessions(flaky, token);
    assert.deepEqual(
      ended.map((r) => r.id),
      [session.id],
    );
    assert.equal(await store.get(session.id), undefined);
  });
});
