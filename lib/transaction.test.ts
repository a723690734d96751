import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';

import { sealData } from 'iron-session';

import {
  MAX_SEALED_TRANSACTION_LENGTH,
  sealTransaction,
  TRANSACTION_TTL_SECONDS,
  unsealTransaction,
  type Transaction,
} from './transaction';

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
