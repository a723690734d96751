import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import {
  benchCpuMs,
  createGroupCpuReader,
  parseProcStat,
  percentile,
  snapshotMachine,
  summarize,
} from './measure';

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
  const ownGroup = (): number => {
    const own = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    assert.ok(own);
    return own.pgrp;
  };

  it("counts this process group's CPU time as it is used", () => {
    const read = createGroupCpuReader(ownGroup());
    const before = read();
    // Burn CPU until this process itself has used 100 ms of it (however slow the machine).
    const start = process.cpuUsage();
    let x = 0;
    while (process.cpuUsage(start).user < 100_000) x += Math.sqrt(x + 1);
    assert.ok(x > 0);
    // /proc counts in clock ticks (10 ms): allow two of them.
    assert.ok(read() - before >= 80, 'the 100 ms of CPU used show in the group');
  });

  it('never goes down when a process of the group exits', async () => {
    // A child in this group burns 200 ms of CPU, says so, and exits when told.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = process.cpuUsage(); let x = 0;
         while (process.cpuUsage(s).user < 200000) x += Math.sqrt(x + 1);
         process.stdout.write('ready'); process.stdin.on('data', () => process.exit(0));`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await once(child.stdout, 'data');
    const read = createGroupCpuReader(ownGroup());
    const withChild = read();
    child.stdin.write('exit');
    await once(child, 'exit');
    const afterExit = read();
    assert.ok(afterExit >= withChild, `${afterExit} ms after the exit < ${withChild} ms before`);
  });
});

describe('benchCpuMs', () => {
  /**
   * A server as the benchmark starts one (in a process group of its own) that burns 200 ms of CPU,
   * then writes the CPU it used in all (start-up included) and waits for a line on stdin to exit.
   */
  async function startBurner() {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = process.cpuUsage(); let x = 0;
         while (process.cpuUsage(s).user < 200000) x += Math.sqrt(x + 1);
         const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1000));
         process.stdin.on('data', () => process.exit(0));`,
      ],
      { detached: true, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
    const pid = child.pid;
    assert.ok(pid);
    return { child, pid, usedMs: Number(chunk.toString('utf8')) };
  }

  // /proc counts in clock ticks (10 ms), and the child runs on a little after it reported.
  const close = (ours: number, used: number) =>
    assert.ok(Math.abs(ours - used) <= 40, `counted ${ours} ms, the server used ${used} ms`);

  it('counts a server that was started and stopped during the run (a discarded cold start)', async () => {
    const start = snapshotMachine();
    const burner = await startBurner();
    burner.child.stdin.write('exit\n');
    await once(burner.child, 'exit');
    const end = snapshotMachine();
    close(benchCpuMs(start, end, new Set([burner.pid]), 0), burner.usedMs);
  });

  it('counts a server still running at the end once', async () => {
    const start = snapshotMachine();
    const burner = await startBurner();
    const end = snapshotMachine();
    burner.child.stdin.write('exit\n');
    await once(burner.child, 'exit');
    close(benchCpuMs(start, end, new Set([burner.pid]), 0), burner.usedMs);
  });
});
