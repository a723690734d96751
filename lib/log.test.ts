import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

/** Info lines are written once the current turn of the event loop is over. */
const turnOver = () => new Promise((resolve) => setImmediate(resolve));

describe('log', () => {
  it('writes one line: the event, then the fields; bare values stay bare', async () => {
    log.info('sign-in completed', {
      sub: 'alice',
      sid: true,
      back_channel_requests: 2,
      x: undefined,
    });
    await turnOver();
    assert.deepEqual(lines, ['[rp] sign-in completed sub=alice sid=true back_channel_requests=2']);
  });

  it('writes info lines once the turn of the event loop is over, every one, in order', async () => {
    log.info('back-channel', { url: 'https://op/token' });
    log.info('back-channel', { url: 'https://op/me' });
    assert.deepEqual(lines, [], 'not on the caller’s path');
    await turnOver();
    assert.deepEqual(lines, [
      '[rp] back-channel url=https://op/token',
      '[rp] back-channel url=https://op/me',
    ]);
  });

  it('writes the info lines before a warning or an error, so the order of events holds', () => {
    log.info('first');
    log.warn('second');
    log.info('third');
    log.error('fourth');
    assert.deepEqual(lines, ['[rp] first', '[rp] second', '[rp] third', '[rp] fourth']);
  });

  it('writes the info lines left when the process exits, an uncaught exception included', () => {
    const script = [
      "import { log } from './lib/log.ts';",
      "log.info('before the crash', { n: 1 });",
      "throw new Error('crash');",
    ].join('\n');
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: process.cwd(),
        encoding: 'utf8',
      },
    );
    assert.notEqual(run.status, 0);
    assert.equal(run.stdout, '[rp] before the crash n=1\n');
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
