import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { ClaimsTable } from '../app/_components/claims-table';
import { formatInstant } from './time-display';

/**
 * Times the pages show come from the provider (a JWT's `exp`, `iat`; a token response's
 * `expires_in`): any JSON number, which a Date cannot always hold (ECMA-262 §21.4.1.22: ±8.64e15
 * ms). Showing one must never throw: a throw in a page is a 500 (or a blank client page) on every
 * visit while the token lasts.
 */

describe('showing times that come from the provider', () => {
  it('formats an instant as ISO 8601 when a Date can hold it', () => {
    assert.equal(formatInstant(1_700_000_000_000), '2023-11-14T22:13:20.000Z');
  });

  it('says so, instead of throwing, for an instant beyond what a Date holds', () => {
    for (const ms of [1e23, -1e23, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.doesNotThrow(() => formatInstant(ms));
      assert.match(formatInstant(ms), /not a representable date/);
    }
  });

  it('renders a JWT whose exp is far beyond any date (a provider-signed exp: 1e20)', () => {
    let html = '';
    assert.doesNotThrow(() => {
      html = renderToStaticMarkup(
        createElement(ClaimsTable, { claims: { exp: 1e20, iat: 1_700_000_000 }, testId: 't' }),
      );
    });
    assert.match(html, /100000000000000000000 \(not a representable date\)/);
    assert.match(html, /1700000000 \(2023-11-14T22:13:20\.000Z\)/);
  });
});
