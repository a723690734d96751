import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MAX_RETURN_TO_LENGTH, sanitizeReturnTo } from './return-to';

const origin = 'http://localhost:3000';

describe('sanitizeReturnTo', () => {
  it('keeps same-origin paths with their query and fragment', () => {
    assert.equal(sanitizeReturnTo('/profile', origin), '/profile');
    assert.equal(
      sanitizeReturnTo('/profile?tab=claims#assertion', origin),
      '/profile?tab=claims#assertion',
    );
    assert.equal(sanitizeReturnTo('/a/../profile', origin), '/profile');
  });

  it('rejects absolute URLs, even to this origin written another way', () => {
    for (const value of [
      'https://evil.example/',
      'http://localhost:3000/profile',
      'javascript:alert(1)',
      'data:text/html,hi',
      'mailto:a@b',
    ]) {
      assert.equal(sanitizeReturnTo(value, origin), '/', value);
    }
  });

  it('rejects protocol-relative and backslash forms', () => {
    for (const value of [
      '//evil.example',
      '//evil.example/profile',
      '/\\evil.example',
      '\\\\evil.example',
      '/\\/evil.example',
      '\\/evil.example',
    ]) {
      assert.equal(sanitizeReturnTo(value, origin), '/', value);
    }
  });

  it('rejects what URL parsing turns into another host (tabs, newlines)', () => {
    for (const value of [
      '/\t/evil.example',
      '/\n/evil.example',
      '/\r\n/evil.example',
      '/ /evil.example'.replace(' ', '\t'),
    ]) {
      assert.equal(sanitizeReturnTo(value, origin), '/', JSON.stringify(value));
    }
  });

  it('rejects what normalising dot segments turns into another host', () => {
    for (const value of [
      '/.//evil.example',
      '/..//evil.example',
      '/%2e%2e//evil.example',
      '/%2E//evil.example',
      '/./\\evil.example',
      '/a/..//evil.example',
      '/.//evil.example/profile?x=1',
    ]) {
      const safe = sanitizeReturnTo(value, origin);
      assert.equal(safe, '/', value);
      assert.equal(new URL(safe, origin).origin, origin, value);
    }
    assert.equal(sanitizeReturnTo('/a/./b/../profile', origin), '/a/profile');
  });

  it('does not decode its way to another host', () => {
    assert.equal(sanitizeReturnTo('/%2F%2Fevil.example', origin), '/%2F%2Fevil.example');
    assert.equal(sanitizeReturnTo('/%5Cevil.example', origin), '/%5Cevil.example');
    assert.equal(sanitizeReturnTo('%2F%2Fevil.example', origin), '/');
  });

  it('never returns to the sign-in routes, and bounds the length', () => {
    assert.equal(sanitizeReturnTo('/auth/logout', origin), '/');
    assert.equal(sanitizeReturnTo('/auth/login?returnTo=/x', origin), '/');
    assert.equal(sanitizeReturnTo(`/${'a'.repeat(MAX_RETURN_TO_LENGTH)}`, origin), '/');
    assert.equal(sanitizeReturnTo(null, origin), '/');
    assert.equal(sanitizeReturnTo('', origin), '/');
    assert.equal(sanitizeReturnTo('profile', origin), '/');
  });
});
