import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { ID_TOKEN_CLAIM_NOTES } from '../app/_components/claim-notes';
import { ClaimsTable, JwtCard } from '../app/_components/claims-table';

/**
 * The claim tables of /profile and /inspector show JWTs the provider signed (the ID token, a JWT
 * access token) member by member, beside a note per member name. The names are the provider's:
 * JSON.parse (jose's decoding) makes `__proto__`, `constructor` or `toString` own members like any
 * other, and a page that throws while rendering one answers 500 on every visit while the session
 * lasts.
 */

/** A JWT payload as jose decodes it: JSON.parse, so `__proto__` is an own member. */
const hostile = JSON.parse(
  '{"sub":"alice","__proto__":{"polluted":true},"constructor":"c","toString":"t",' +
    '"hasOwnProperty":1,"<img src=x onerror=alert(1)>":"<script>alert(1)</script>"}',
) as Record<string, unknown>;

describe('claim tables with member names a provider chose', () => {
  it('render __proto__, constructor and other Object.prototype names as plain claims', () => {
    for (const notes of [ID_TOKEN_CLAIM_NOTES, {}, undefined]) {
      let html = '';
      assert.doesNotThrow(() => {
        html = renderToStaticMarkup(
          createElement(ClaimsTable, { claims: hostile, notes, testId: 't' }),
        );
      });
      assert.match(
        html,
        /<th>__proto__<\/th><td class="value">\{&quot;polluted&quot;:true\}<\/td>/,
      );
      assert.match(html, /<th>constructor<\/th><td class="value">c<\/td>/);
      assert.match(html, /<th>toString<\/th><td class="value">t<\/td>/);
      // Markup in names and values is text.
      assert.doesNotMatch(html, /<script>|<img /);
      assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
      if (notes) {
        // No note for a name the notes do not have, whatever Object.prototype holds.
        assert.match(
          html,
          /<th>__proto__<\/th><td class="value">[^<]*<\/td><td class="muted"><\/td>/,
        );
        assert.match(html, /<th>sub<\/th><td class="value">alice<\/td><td class="muted">.+?<\/td>/);
      }
    }
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  it('render a JWT card whose header and payload carry such names', () => {
    const jwt = { header: JSON.parse('{"alg":"RS256","__proto__":{}}'), payload: hostile };
    assert.doesNotThrow(() =>
      renderToStaticMarkup(
        createElement(JwtCard, {
          jwt,
          headerNotes: {},
          claimNotes: ID_TOKEN_CLAIM_NOTES,
          prefix: 'p',
        }),
      ),
    );
  });
});
