import assert from 'node:assert/strict';
import { registerHooks } from 'node:module';
import { after, before, describe, it } from 'node:test';

import { driveSignIn } from '../provider/drive-sign-in';
import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { getConfig } from './config';
import { getProvider } from './discovery';
import { captureSignIn } from './flow-capture';
import { fitFlowRecord, type SignInFlowRecord } from './flow-record';
import { buildAuthorizationParameters, completeSignIn, startSignIn } from './sign-in';
import type { Transaction } from './transaction';

/**
 * The inspector's record of a sign-in, begun when the callback finds its transaction and completed
 * after the code is redeemed (./flow-inspector.ts), against the real bundled provider in this
 * process: the record is the one made from the parameters sent, and a capture that fails, or is
 * never completed because the sign-in was refused, fails nothing and leaves no rejected promise.
 */

// ./flow-inspector.ts is server code (`import 'server-only'`), which throws unless loaded under
// the `react-server` condition, as Next.js loads it; this process loads it the same way.
registerHooks({
  resolve(specifier, context, nextResolve) {
    return specifier === 'server-only'
      ? nextResolve(specifier, { ...context, conditions: [...context.conditions, 'react-server'] })
      : nextResolve(specifier, context);
  },
});
const { beginSignInFlowCapture } = await import('./flow-inspector');

const appUrl = 'http://localhost:3999';
let op: InProcessProvider;

before(async () => {
  op = await startInProcessProvider(appUrl);
});

after(() => op.stop());

/** A sign-in through the provider's forms, up to its callback (the code not yet redeemed). */
async function authorize() {
  const { url, transaction } = await startSignIn('/profile');
  const callback = await driveSignIn(url, {
    login: 'alice',
    password: 'alice-password',
    redirectUri: `${appUrl}/auth/callback`,
  });
  return { url, transaction, callback };
}

/** The record as stored, without what depends on when it was made. */
function parseRecord(json: string | undefined): Omit<SignInFlowRecord, 'totalMs'> {
  assert.ok(json !== undefined, 'a record');
  const { totalMs, ...record } = JSON.parse(json) as SignInFlowRecord;
  assert.equal(typeof totalMs, 'number');
  return { ...record, idToken: { ...record.idToken, validatedAt: 0 } };
}

/** Collects the unhandled rejections while `body` runs and a few turns of the event loop after. */
async function collectUnhandledRejections(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', listener);
  try {
    await body();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

describe('the sign-in record, begun beside the code redemption', () => {
  it('is the record of the authorization request sent, as made after the sign-in', async () => {
    const { url, transaction, callback } = await authorize();
    const callbackStart = performance.now();
    const callbackAt = Date.now();
    const capture = beginSignInFlowCapture(transaction);
    const result = await completeSignIn(callback.searchParams, transaction);
    const attachments = await capture.complete({
      callbackParams: callback.searchParams,
      result,
      callbackStart,
      callbackAt,
    });

    const record = parseRecord(attachments?.['flow-signin']);
    // The challenge shown is the one the provider received.
    assert.equal(
      record.authorization.params.code_challenge,
      url.searchParams.get('code_challenge'),
    );
    assert.equal(record.authorization.params.state, transaction.state);
    // The same record as one made from scratch once the sign-in is done.
    const { metadata } = await getProvider();
    const made = fitFlowRecord(
      captureSignIn({
        transaction,
        authorizationParams: await buildAuthorizationParameters(transaction),
        callbackParams: callback.searchParams,
        result,
        settings: getConfig(),
        metadata,
        callbackStart,
        callbackAt,
      }),
    );
    assert.deepEqual(record, parseRecord(made?.json));
  });

  it('is no record when it cannot be made, and no failure', async () => {
    const { transaction, callback } = await authorize();
    const result = await completeSignIn(callback.searchParams, transaction);
    // A verifier that is no string: the challenge cannot be computed.
    const broken = { ...transaction, code_verifier: 42 } as unknown as Transaction;
    const rejections = await collectUnhandledRejections(async () => {
      const capture = beginSignInFlowCapture(broken);
      const attachments = await capture.complete({
        callbackParams: callback.searchParams,
        result,
        callbackStart: performance.now(),
        callbackAt: Date.now(),
      });
      assert.equal(attachments, undefined);
    });
    assert.deepEqual(rejections, []);
  });

  it('leaves no unhandled rejection when the sign-in is refused before it completes', async () => {
    const { transaction } = await startSignIn('/profile');
    const broken = { ...transaction, code_verifier: 42 } as unknown as Transaction;
    const rejections = await collectUnhandledRejections(async () => {
      // Begun, then never completed: the callback was refused (a 503, a code the provider refused).
      beginSignInFlowCapture(broken);
      await Promise.resolve();
    });
    assert.deepEqual(rejections, []);
  });
});
