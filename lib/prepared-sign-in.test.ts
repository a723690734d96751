import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import * as client from 'openid-client';

import { driveSignIn } from '../provider/drive-sign-in';
import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { getConfig } from './config';
import type { ProviderContext } from './discovery';
import { PREPARED_TRANSACTION_MAX_AGE_MS, startPreparedSignIn } from './prepared-sign-in';
import { processSlot } from './process-slot';
import type { SealCache } from './seal-cache';
import { completeSignIn } from './sign-in';
import { unsealTransaction } from './transaction';

/**
 * `/auth/login`'s start with the transaction made ahead, against the bundled provider in this
 * process: what is taken, by whom, and that it signs in.
 */

const appUrl = 'http://localhost:3993';
let op: InProcessProvider;

before(async () => {
  op = await startInProcessProvider(appUrl);
});

after(() => op.stop());

type Started = Awaited<ReturnType<typeof startPreparedSignIn>>;

/** What the sealed cookie opens to: the very transaction the URL was built for. */
async function assertConsistent(started: Started): Promise<void> {
  const { url, transaction, sealed } = started;
  assert.equal(url.searchParams.get('state'), transaction.state);
  assert.equal(url.searchParams.get('nonce'), transaction.nonce);
  assert.equal(
    url.searchParams.get('code_challenge'),
    await client.calculatePKCECodeChallenge(transaction.code_verifier),
  );
  assert.ok(sealed, 'made ahead');
  assert.deepEqual(await unsealTransaction(sealed, getConfig().sessionPasswords.open), transaction);
}

describe('a sign-in start made ahead', () => {
  it('is taken by the next start for its returnTo, opens to what its URL carries, signs in', async () => {
    const first = await startPreparedSignIn('/profile');
    const second = await startPreparedSignIn('/profile');
    await assertConsistent(second);
    assert.equal(second.transaction.returnTo, '/profile');
    assert.notEqual(second.transaction.state, first.transaction.state);
    assert.notEqual(second.transaction.nonce, first.transaction.nonce);
    assert.notEqual(second.transaction.code_verifier, first.transaction.code_verifier);
    const callback = await driveSignIn(second.url, {
      login: 'alice',
      password: 'alice-password',
      redirectUri: `${appUrl}/auth/callback`,
    });
    const result = await completeSignIn(callback.searchParams, second.transaction);
    assert.equal(result.claims.sub, 'alice');
    assert.equal(result.claims.nonce, second.transaction.nonce);
  });

  it('goes to one request only, however many start at once', async () => {
    await startPreparedSignIn('/');
    const started = await Promise.all(Array.from({ length: 6 }, () => startPreparedSignIn('/')));
    assert.equal(new Set(started.map((s) => s.transaction.state)).size, 6);
    assert.equal(new Set(started.map((s) => s.transaction.code_verifier)).size, 6);
    // Each made-ahead one went to one request; later ones waited for the next being made.
    const ahead = started.filter((s) => s.sealed !== undefined);
    assert.ok(ahead.length >= 1);
    for (const s of ahead) await assertConsistent(s);
  });

  it('is not taken by a start with another returnTo, which gets its own', async () => {
    await startPreparedSignIn('/profile');
    const other = await startPreparedSignIn('/inspector');
    assert.equal(other.sealed, undefined);
    assert.equal(other.transaction.returnTo, '/inspector');
    assert.equal(other.url.searchParams.get('state'), other.transaction.state);
    // The next one is made for the returnTo asked last.
    const next = await startPreparedSignIn('/inspector');
    await assertConsistent(next);
    assert.equal(next.transaction.returnTo, '/inspector');
  });

  it('is not used once older than its maximum age', async () => {
    await startPreparedSignIn('/profile');
    const late = await startPreparedSignIn(
      '/profile',
      Date.now() + PREPARED_TRANSACTION_MAX_AGE_MS + 1,
    );
    assert.equal(late.sealed, undefined);
    assert.ok(Math.abs(late.transaction.created_at - Date.now() / 1000) <= 1);
  });

  it('is not used once the provider requires PAR: that start pushes its request as before', async () => {
    await startPreparedSignIn('/profile');
    const providerSlot = processSlot<Promise<ProviderContext>>('provider');
    const discovered = providerSlot.get();
    assert.ok(discovered, 'discovered');
    const context = await discovered;
    // As a new discovery would find it: the provider now requires pushed requests (RFC 9126 §5);
    // OIDC_PAR is left at auto and DPoP off, so only the metadata decides.
    providerSlot.set(
      Promise.resolve({
        ...context,
        metadata: { ...context.metadata, require_pushed_authorization_requests: true },
      }),
    );
    try {
      const pushed = await startPreparedSignIn('/profile');
      assert.equal(pushed.sealed, undefined);
      assert.deepEqual([...pushed.url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.ok(pushed.transaction.par, 'the pushed request is kept with the transaction');
      assert.equal(pushed.transaction.par.parameters.state, pushed.transaction.state);
      assert.equal(pushed.transaction.par.parameters.nonce, pushed.transaction.nonce);
      assert.equal(
        pushed.transaction.par.parameters.code_challenge,
        await client.calculatePKCECodeChallenge(pushed.transaction.code_verifier),
      );
    } finally {
      providerSlot.set(discovered);
    }
  });

  it('when making one ahead fails, the start that would have taken it makes its own', async (t) => {
    const seals = processSlot<SealCache>('seal-cache:transaction').get();
    assert.ok(seals, 'the transaction seal cache');
    t.mock.method(seals, 'seal', () => Promise.reject(new Error('sealing failed')));
    // The first makes the next one ahead, for /machine, and that seal fails.
    await startPreparedSignIn('/machine');
    const own = await startPreparedSignIn('/machine');
    assert.equal(own.sealed, undefined);
    assert.equal(own.transaction.returnTo, '/machine');
    assert.equal(own.url.searchParams.get('state'), own.transaction.state);
    assert.equal(own.url.searchParams.get('nonce'), own.transaction.nonce);
  });
});
