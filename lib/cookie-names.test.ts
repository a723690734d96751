import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { NextRequest } from 'next/server';

import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { proxy } from '../proxy';
import { getConfig } from './config';
import { cookieName, sessionCookieName } from './cookie-names';
import { reportStoreFailure, reportStoreSuccess, shouldAnswerUnavailable } from './store-health';

/**
 * The cookies' names, and `proxy.ts` knowing the session cookie by the same name as the routes:
 * during a store outage it answers 503 at once to requests that carry it, and to no other.
 */

// The app's settings as a real deployment has them (the provider sets them in process.env).
let op: InProcessProvider;
before(async () => {
  op = await startInProcessProvider('http://localhost:3997');
});
after(() => op.stop());

describe('cookie names', () => {
  it('are __Host- prefixed under https only', () => {
    assert.equal(sessionCookieName(true), '__Host-rp_session');
    assert.equal(sessionCookieName(false), 'rp_session');
    assert.equal(cookieName('rp_tx', true), '__Host-rp_tx');
    assert.equal(cookieName('rp_tx', false), 'rp_tx');
    assert.equal(sessionCookieName(), sessionCookieName(getConfig().secureCookies));
  });
});

describe('proxy during a session-store outage', () => {
  after(() => reportStoreSuccess());

  it('answers 503 to a request with the session cookie, by the name the routes use', async () => {
    const { appUrl, secureCookies } = getConfig();
    const request = (cookie: string) =>
      new NextRequest(`${appUrl}/api/me`, { headers: { cookie: `${cookie}=sealed` } });
    reportStoreFailure('test: store down');
    // The first request of an outage goes through as a probe; the next ones are answered at once.
    shouldAnswerUnavailable();
    const answered = proxy(request(sessionCookieName()));
    assert.equal(answered.status, 503);
    assert.equal(((await answered.json()) as { error: string }).error, 'temporarily_unavailable');
    // A cookie of another name is no session: the request goes on (no 503).
    const other = proxy(request(sessionCookieName(!secureCookies)));
    assert.notEqual(other.status, 503);
  });
});
