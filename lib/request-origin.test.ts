import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isCrossOriginRequest } from './request-origin';

const APP = 'https://app.example';

describe('isCrossOriginRequest', () => {
  const decide = (headers: Record<string, string>) =>
    isCrossOriginRequest(new Headers(headers), APP);

  it('lets through the app’s own pages, and requests from no browser at all', () => {
    assert.equal(decide({ origin: APP, 'sec-fetch-site': 'same-origin' }), false);
    assert.equal(decide({ origin: APP }), false);
    assert.equal(decide({ 'sec-fetch-site': 'same-origin' }), false);
    assert.equal(decide({ 'sec-fetch-site': 'none' }), false);
    assert.equal(decide({}), false);
  });

  it('refuses another Origin, a sandboxed one, and a sibling subdomain', () => {
    assert.equal(decide({ origin: 'https://evil.example' }), true);
    assert.equal(decide({ origin: 'null' }), true);
    assert.equal(decide({ origin: `${APP}.evil.example` }), true);
    assert.equal(decide({ origin: 'http://app.example' }), true);
    assert.equal(
      decide({ origin: 'https://sub.app.example', 'sec-fetch-site': 'same-site' }),
      true,
    );
  });

  it('refuses what Fetch Metadata calls cross-site or same-site, with Origin stripped', () => {
    assert.equal(decide({ 'sec-fetch-site': 'cross-site' }), true);
    assert.equal(decide({ 'sec-fetch-site': 'same-site' }), true);
    // The two disagree: the one that says "another site" wins.
    assert.equal(decide({ origin: APP, 'sec-fetch-site': 'cross-site' }), true);
  });
});
