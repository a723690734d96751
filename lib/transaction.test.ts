import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';

import { sealData } from 'iron-session';

import {
  isTransactionCookieName,
  MAX_PENDING_TRANSACTIONS,
  MAX_TRANSACTION_COOKIE_LENGTH,
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

  it('drops unreadable transactions first, then the oldest, down to the bound', () => {
    const pending = [
      { name: 'c', createdAt: 300 },
      { name: 'a', createdAt: 100 },
      { name: 'x', createdAt: undefined },
      { name: 'b', createdAt: 200 },
      { name: 'd', createdAt: 400 },
    ];
    assert.deepEqual(selectEvictions(pending, 4), ['x']);
    assert.deepEqual(selectEvictions(pending, 2), ['x', 'a', 'b']);
    assert.deepEqual(selectEvictions(pending, 5), []);
    assert.deepEqual(selectEvictions(pending, 0), ['x', 'a', 'b', 'c', 'd']);
    assert.deepEqual(selectEvictions([], 4), []);
  });

  it('keeps the largest transaction within its size bound, and all pending ones under 8 KB', async () => {
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
    assert.ok(sealed.length <= MAX_TRANSACTION_COOKIE_LENGTH, `${sealed.length} characters`);
    const cookie = `__Host-${transactionCookieName(largest.state, '')}=${sealed}; `;
    assert.ok(cookie.length * MAX_PENDING_TRANSACTIONS < 8 * 1024);
  });

  it('refuses to seal a transaction over the bound', async () => {
    await assert.rejects(
      sealTransaction({ ...tx, returnTo: `/${'a'.repeat(2000)}` }, password),
      RangeError,
    );
  });
});
