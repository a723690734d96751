import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';

import { sealData } from 'iron-session';

import {
  claimTransaction,
  MAX_CLAIMED_TRANSACTIONS,
  releaseTransaction,
  isTransactionCookieName,
  MAX_PENDING_TRANSACTIONS,
  MAX_PENDING_TRANSACTIONS_LENGTH,
  MAX_SEALED_TRANSACTION_LENGTH,
  sealTransaction,
  selectEvictions,
  transactionCookieName,
  TRANSACTION_TTL_SECONDS,
  unsealTransaction,
  type Transaction,
} from './transaction';
import { MAX_RETURN_TO_LENGTH } from './return-to';

const password = 'p'.repeat(32);
const tx: Transaction = {
  state: 'state-value',
  nonce: 'nonce-value',
  code_verifier: 'v'.repeat(43),
  returnTo: '/profile',
  created_at: 1_800_000_000,
};

describe('transaction cookie', () => {
  it('round-trips', async () => {
    assert.deepEqual(await unsealTransaction(await sealTransaction(tx, password), password), tx);
  });

  it('rejects a tampered cookie', async () => {
    const sealed = await sealTransaction(tx, password);
    const parts = sealed.split('*');
    // Flip one character of the encrypted payload, and separately of the MAC.
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const tamperedBody = [...parts.slice(0, 4), flip(parts[4] ?? ''), ...parts.slice(5)].join('*');
    const tamperedMac = [...parts.slice(0, 7), flip(parts[7] ?? '')].join('*');
    assert.equal(await unsealTransaction(tamperedBody, password), undefined);
    assert.equal(await unsealTransaction(tamperedMac, password), undefined);
  });

  it('rejects truncated, foreign, empty and garbage cookies without throwing', async () => {
    const sealed = await sealTransaction(tx, password);
    assert.equal(await unsealTransaction(sealed.slice(0, sealed.length - 10), password), undefined);
    assert.equal(await unsealTransaction(sealed.slice(0, 20), password), undefined);
    assert.equal(await unsealTransaction(sealed, 'q'.repeat(32)), undefined);
    assert.equal(await unsealTransaction('', password), undefined);
    assert.equal(await unsealTransaction(undefined, password), undefined);
    assert.equal(await unsealTransaction('Fe26.2**garbage*~2', password), undefined);
    assert.equal(await unsealTransaction('%%%', password), undefined);
  });

  it('rejects a well-sealed value that is not a transaction', async () => {
    assert.equal(
      await unsealTransaction(await sealData({ state: 'x' }, { password }), password),
      undefined,
    );
    assert.equal(
      await unsealTransaction(
        await sealData({ ...tx, returnTo: 'https://evil.example' }, { password }),
        password,
      ),
      undefined,
    );
  });

  it('expires', async () => {
    mock.timers.enable({
      apis: ['Date'],
      now: Date.now() - (TRANSACTION_TTL_SECONDS + 120) * 1000,
    });
    let old: string;
    try {
      old = await sealTransaction(tx, password);
    } finally {
      mock.timers.reset();
    }
    assert.equal(await unsealTransaction(old, password), undefined);
  });

  it('drops the PAR view (display only), never the DPoP key, when the cookie would not fit', async () => {
    const dpop_key = {
      kty: 'EC',
      crv: 'P-256',
      x: 'x'.repeat(43),
      y: 'y'.repeat(43),
      d: 'd'.repeat(43),
    };
    const par = {
      endpoint: 'https://op.example/par',
      parameters: { scope: 'openid '.repeat(400) },
      attempts: [],
      request_uri: 'urn:ietf:params:oauth:request_uri:abc',
      authorization_url: 'https://op.example/auth?client_id=c&request_uri=x',
    };
    const big = { ...tx, dpop_key, par };
    const sealed = await sealTransaction(big, password);
    assert.ok(sealed.length <= MAX_SEALED_TRANSACTION_LENGTH);
    const opened = await unsealTransaction(sealed, password);
    assert.equal(opened?.par, undefined);
    assert.deepEqual(opened?.dpop_key, dpop_key);
    const small = { ...tx, dpop_key, par: { ...par, parameters: { scope: 'openid' } } };
    assert.deepEqual(
      (await unsealTransaction(await sealTransaction(small, password), password))?.par,
      small.par,
    );
  });
});

describe('one transaction cookie per state', () => {
  it('names the cookie after the state: fixed length, cookie-name characters only', () => {
    const a = transactionCookieName('state-a', '');
    const b = transactionCookieName('state-b', '');
    assert.notEqual(a, b);
    assert.equal(transactionCookieName('state-a', ''), a);
    assert.equal(transactionCookieName('state-a', '__Host-'), `__Host-${a}`);
    for (const state of ['', 'x', 'é;= ,"\\', 'z'.repeat(10_000), '\u0000\r\n']) {
      const name = transactionCookieName(state, '');
      // RFC 6265 §4.1.1: cookie-name is an RFC 2616 token.
      assert.match(name, /^rp_tx_[A-Za-z0-9_-]{22}$/);
      assert.ok(isTransactionCookieName(name, ''));
      assert.ok(!isTransactionCookieName(name, '__Host-'));
    }
    assert.ok(isTransactionCookieName(transactionCookieName('s', '__Host-'), '__Host-'));
    for (const other of ['rp_tx', 'rp_session', 'rp_error', 'rp_tx_short', '__Host-rp_session'])
      assert.ok(!isTransactionCookieName(other, ''), other);
  });

  it('drops unreadable transactions first, then the oldest, down to the count bound', () => {
    const pending = [
      { name: 'c', length: 600, createdAt: 300 },
      { name: 'a', length: 600, createdAt: 100 },
      { name: 'x', length: 600, createdAt: undefined },
      { name: 'b', length: 600, createdAt: 200 },
      { name: 'd', length: 600, createdAt: 400 },
    ];
    assert.equal(MAX_PENDING_TRANSACTIONS, 5);
    // Five pending, a sixth comes: one goes.
    assert.deepEqual(selectEvictions(pending, 600), ['x']);
    assert.deepEqual(selectEvictions(pending.slice(0, 4), 600), []);
    assert.deepEqual(selectEvictions(pending, 600, { count: 3, length: 100_000 }), ['x', 'a', 'b']);
    assert.deepEqual(selectEvictions([], 600), []);
  });

  it('drops the oldest while the pending cookies together would exceed their length bound', () => {
    const pending = [
      { name: 'new', length: 3500, createdAt: 300 },
      { name: 'old', length: 3500, createdAt: 100 },
      { name: 'mid', length: 1000, createdAt: 200 },
    ];
    // 8000 + 1000 > 8192: the oldest goes, and that is enough.
    assert.deepEqual(selectEvictions(pending, 1000), ['old']);
    // 8000 + 3800 > 8192, and still 8300 without the oldest: the next goes too.
    assert.deepEqual(selectEvictions(pending, 3800), ['old', 'mid']);
    assert.deepEqual(selectEvictions(pending, 100), []);
    assert.equal(MAX_PENDING_TRANSACTIONS_LENGTH, 8192);
  });

  it('keeps the largest transaction without DPoP or PAR near 1.2 KB', async () => {
    const largest: Transaction = {
      ...tx,
      // openid-client's randomState / randomNonce / PKCE verifier: 32 random bytes, base64url.
      state: 's'.repeat(43),
      nonce: 'n'.repeat(43),
      code_verifier: 'v'.repeat(43),
      returnTo: `/${'%E2%82%AC'.repeat(60)}`.slice(0, MAX_RETURN_TO_LENGTH),
    };
    assert.equal(largest.returnTo.length, MAX_RETURN_TO_LENGTH);
    const sealed = await sealTransaction(largest, password);
    assert.ok(sealed.length <= 1300, `${sealed.length} characters`);
  });

  it('refuses to seal a transaction over the bound, rather than let the browser drop it', async () => {
    await assert.rejects(
      sealTransaction({ ...tx, returnTo: `/${'a'.repeat(4000)}` }, password),
      RangeError,
    );
    assert.ok(MAX_SEALED_TRANSACTION_LENGTH < 4096);
  });
});

describe('claimTransaction (one callback per transaction, RFC 6749 §4.1.2)', () => {
  const now = 1_800_000_000_000;
  const tx = (state: string) => ({ state, created_at: now / 1000 });

  it('lets one callback claim a transaction and refuses a second while the cookie could open', () => {
    assert.equal(claimTransaction(tx('claim-a'), now), true);
    assert.equal(claimTransaction(tx('claim-a'), now + 1), false, 'a concurrent second request');
    assert.equal(claimTransaction(tx('claim-b'), now), true, 'another sign-in is its own');
    assert.equal(
      claimTransaction(tx('claim-a'), now + (TRANSACTION_TTL_SECONDS + 59) * 1000),
      false,
      'a copy of the consumed cookie, still openable',
    );
    assert.equal(
      claimTransaction(tx('claim-a'), now + (TRANSACTION_TTL_SECONDS + 61) * 1000),
      true,
      'lapsed with the cookie',
    );
  });

  it('gives a claim back when the callback consumed nothing', () => {
    assert.equal(claimTransaction(tx('claim-c'), now), true);
    releaseTransaction(tx('claim-c'));
    assert.equal(claimTransaction(tx('claim-c'), now), true);
  });

  it('holds a bounded number of claims, the oldest going first', () => {
    for (let i = 0; i < MAX_CLAIMED_TRANSACTIONS + 10; i++)
      assert.equal(claimTransaction(tx(`bound-${i}`), now), true);
    assert.equal(claimTransaction(tx('bound-0'), now), true, 'the oldest was dropped');
    assert.equal(claimTransaction(tx(`bound-${MAX_CLAIMED_TRANSACTIONS + 9}`), now), false);
  });
});
