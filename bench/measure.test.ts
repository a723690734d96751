import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { createGroupCpuReader, parseProcStat, percentile, summarize } from './measure';

describe('percentile / summarize', () => {
  it('takes the nearest rank', () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(sorted, 50), 5);
    assert.equal(percentile(sorted, 95), 10);
    assert.equal(percentile(sorted, 0), 1);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('sorts before summarising', () => {
    const s = summarize([30, 10, 20]);
    assert.deepEqual([s.n, s.p50, s.min, s.max, s.mean], [3, 20, 10, 30, 20]);
  });
});

describe('parseProcStat', () => {
  it('reads the process group and CPU ticks after a command name with spaces and parentheses', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    const line =
      '4242 (next-server (v16.4)) S 1 4240 4240 0 -1 4194304 10 0 0 0 150 50 0 0 20 0 11';
    const sample = parseProcStat(line);
    assert.equal(sample?.pid, 4242);
    assert.equal(sample?.pgrp, 4240);
    assert.equal(sample?.command, 'next-server (v16.4)');
    assert.ok(sample && sample.cpuMs > 0);
  });

  it('is undefined for a malformed line', () => {
    assert.equal(parseProcStat('garbage'), undefined);
  });
});

describe('createGroupCpuReader', () => {
  it("counts this process group's CPU time as it is used", () => {
    const own = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    assert.ok(own);
    const read = createGroupCpuReader(own.pgrp);
    const before = read();
    const until = performance.now() + 150;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    assert.ok(x > 0);
    assert.ok(read() - before >= 50, 'busy-looping 150 ms shows as CPU time');
  });
});
