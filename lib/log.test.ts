import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';

import { describeError, log, redact } from './log';

let lines: string[];
beforeEach(() => {
  lines = [];
  for (const method of ['log', 'warn', 'error'] as const)
    mock.method(console, method, (line: string) => lines.push(line));
});
afterEach(() => mock.restoreAll());

describe('log', () => {
  it('writes one line: the event, then the fields; bare values stay bare', () => {
    log.info('sign-in completed', {
      sub: 'alice',
      sid: true,
      back_channel_requests: 2,
      x: undefined,
    });
    assert.deepEqual(lines, ['[rp] sign-in completed sub=alice sid=true back_channel_requests=2']);
  });

  it('quotes a value with spaces, quotes or control characters, so no value can forge a line', () => {
    log.warn('refresh failed', {
      error: 'invalid_grant\n[rp] sign-in completed sub=mallory',
      description: 'a "quoted" word',
      escape: '\u001b[2J\u001b[31mred',
      c1: 'x\u009b31my',
      del: 'x\u007fy',
    });
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.ok(line);
    assert.doesNotMatch(line, /[\n\r\u0000-\u001f\u007f-\u009f]/, 'no control character written');
    assert.match(line, /error="invalid_grant\\n\[rp\] sign-in completed sub=mallory"/);
    assert.match(line, /description="a \\"quoted\\" word"/);
    assert.match(line, /escape="\\u001b\[2J\\u001b\[31mred"/);
    assert.match(line, /c1="x\\u009b31my"/);
    assert.match(line, /del="x\\u007fy"/);
  });

  it('escapes the Unicode line and paragraph separators: line splitters take them for line ends', () => {
    // Python's str.splitlines(), JavaScript's line terminators and many log viewers break there.
    log.warn('refresh failed', {
      ls: 'x\u2028[rp] sign-in completed sub=mallory',
      ps: 'x\u2029y',
    });
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.ok(line);
    assert.doesNotMatch(line, /[\u2028\u2029]/);
    assert.match(line, /ls="x\\u2028\[rp\] sign-in completed sub=mallory"/);
    assert.match(line, /ps="x\\u2029y"/);
  });
});

describe('redact', () => {
  it('shortens JWTs, PEM blocks and long opaque strings', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
    // A key made for this test only, never stored.
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
      .trim();
    const body = pem.split('\n')[1] ?? '';
    assert.ok(body.length > 20);
    const out = redact(`token ${jwt} key ${pem} secret ${'A'.repeat(48)}`);
    assert.ok(!out.includes(body), 'nothing of the key body is left');
    assert.doesNotMatch(out, /eyJzdWIi|A{40}/);
    assert.match(out, /eyJhbGciOi…\[redacted JWT\]/);
    assert.match(out, /\[redacted PEM\]/);
    assert.match(out, /AAAA…\[redacted\]/);
  });
});

describe('describeError', () => {
  it('gives names, codes and messages of the cause chain, redacted', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const err = new TypeError('fetch failed', { cause });
    assert.equal(
      describeError(err),
      'TypeError: fetch failed <- Error[ECONNREFUSED]: connect ECONNREFUSED',
    );
  });
});
