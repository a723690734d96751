import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { authenticate, DEMO_ACCOUNTS } from './accounts';
import { escapeHtml, loginPage } from './views';

describe('bundled provider accounts', () => {
  it('accepts the demo passwords and nothing else', () => {
    assert.equal(authenticate('alice', 'alice-password'), 'alice');
    assert.equal(authenticate('bob', 'bob-password'), 'bob');
    assert.equal(authenticate('alice', 'bob-password'), undefined);
    assert.equal(authenticate('alice', ''), undefined);
    assert.equal(authenticate('mallory', 'alice-password'), undefined);
    assert.equal(authenticate('__proto__', ''), undefined);
    assert.deepEqual(
      DEMO_ACCOUNTS.map((a) => a.login),
      ['alice', 'bob'],
    );
  });

  it('escapes what it echoes into its pages', () => {
    assert.equal(
      escapeHtml(`<script>"x"&'y'</script>`),
      '&#60;script&#62;&#34;x&#34;&#38;&#39;y&#39;&#60;/script&#62;',
    );
    const html = loginPage({
      uid: 'u1',
      clientName: 'demo',
      login: '"><img src=x onerror=alert(1)>',
      error: 'Wrong',
    });
    assert.ok(!html.includes('<img'));
  });
});
