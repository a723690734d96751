import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/**
 * What the benchmark reads from the operating system (Linux /proc) and how it summarises samples:
 * CPU time and peak memory of a process group (a server and anything it forked), the machine's
 * total CPU, and percentiles.
 */

export type Summary = {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
};

/** The nearest-rank percentile `p` (0–100) of ascending `sorted` samples; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, v) => sum + v, 0) / (sorted.length || Number.NaN);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    mean,
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
}

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc CPU figures (USER_HZ). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      ticksPerSecond = 100;
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

export type ProcessSample = {
  readonly pid: number;
  readonly pgrp: number;
  readonly command: string;
  /** User + system CPU time, ms, all threads, since the process started. */
  readonly cpuMs: number;
};

/** Parses one /proc/<pid>/stat line. The command name may hold spaces and parentheses. */
export function parseProcStat(line: string): ProcessSample | undefined {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const fields = line
    .slice(close + 2)
    .trim()
    .split(' ');
  // fields[0] is field 3 (state) of proc(5): field N is fields[N - 3].
  const pgrp = Number(fields[2]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (![pgrp, utime, stime].every(Number.isFinite)) return undefined;
  return {
    pid: Number(line.slice(0, open).trim()),
    pgrp,
    command: line.slice(open + 1, close),
    cpuMs: ((utime + stime) * 1000) / clockTicks(),
  };
}

/** Every process visible now. */
export function readProcesses(): ProcessSample[] {
  const out: ProcessSample[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const sample = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (sample) out.push(sample);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** CPU ms used so far by the processes of group `pgrp` (a child started detached is its own group). */
export function readGroupCpuMs(
  pgrp: number,
  processes: readonly ProcessSample[] = readProcesses(),
): number {
  return processes.filter((p) => p.pgrp === pgrp).reduce((sum, p) => sum + p.cpuMs, 0);
}

/**
 * A cheap CPU reader for one process group: finds its processes once, then reads only their
 * /proc/<pid>/stat files (the benchmark reads it around every single sign-in).
 *
 * The total never goes down: a process that has exited keeps the CPU time last read for it.
 * Dropping it would subtract all the CPU it ever used from the next reading.
 */
export function createGroupCpuReader(pgrp: number): () => number {
  const lastMs = new Map(
    readProcesses()
      .filter((p) => p.pgrp === pgrp)
      .map((p) => [p.pid, p.cpuMs]),
  );
  return () => {
    let sum = 0;
    for (const [pid, previous] of lastMs) {
      let now = previous;
      try {
        const sample = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        // The same pid in another group is a new process: keep the old one's last figure.
        if (sample && sample.pgrp === pgrp) now = Math.max(previous, sample.cpuMs);
      } catch {
        // exited: keep its last figure
      }
      lastMs.set(pid, now);
      sum += now;
    }
    return sum;
  };
}

function readStatusKb(pid: number, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match?.[1] ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** Peak resident memory (VmHWM) of the group's processes, added up, in MB. */
export function readGroupPeakRssMb(pgrp: number): number {
  const kb = readProcesses()
    .filter((p) => p.pgrp === pgrp)
    .reduce((sum, p) => sum + readStatusKb(p.pid, 'VmHWM'), 0);
  return kb / 1024;
}

/** Resident memory now (VmRSS) of the group's processes, added up, in MB. */
export function readGroupRssMb(pgrp: number): number {
  const kb = readProcesses()
    .filter((p) => p.pgrp === pgrp)
    .reduce((sum, p) => sum + readStatusKb(p.pid, 'VmRSS'), 0);
  return kb / 1024;
}

/** The machine's CPU time so far, ms summed over all cores: busy (not idle, not iowait) and total. */
export function readMachineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    values;
  const busy = user + nice + system + irq + softirq + steal;
  const toMs = (ticks: number) => (ticks * 1000) / clockTicks();
  return { busy: toMs(busy), total: toMs(busy + idle + iowait) };
}

/**
 * CPU ms of this process's children that have exited and been waited for (cutime + cstime of
 * /proc/self/stat, their own reaped children included): Node.js waits for every child it spawned
 * as soon as it exits, so a server the benchmark stopped is counted here.
 */
export function readReapedChildrenCpuMs(): number {
  const line = readFileSync('/proc/self/stat', 'utf8');
  const fields = line
    .slice(line.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
  // Fields 16 and 17 of proc(5) (see parseProcStat).
  const ticks = Number(fields[13]) + Number(fields[14]);
  return Number.isFinite(ticks) ? (ticks * 1000) / clockTicks() : 0;
}

export type MachineSnapshot = {
  readonly at: number;
  readonly load: readonly number[];
  readonly cpu: { busy: number; total: number };
  readonly processes: readonly ProcessSample[];
  /** {@link readReapedChildrenCpuMs} at that time. */
  readonly reapedChildrenCpuMs: number;
};

export function snapshotMachine(): MachineSnapshot {
  return {
    at: performance.now(),
    load: loadavg(),
    cpu: readMachineCpuMs(),
    processes: readProcesses(),
    reapedChildrenCpuMs: readReapedChildrenCpuMs(),
  };
}

/**
 * CPU ms the benchmark's own processes used between two snapshots: the driver's (`driverCpuMs`,
 * from `process.cpuUsage`) and that of the process groups it started (`groups`: each child's pid,
 * its group).
 *
 * A server stopped before the end (the cold starts but the last, a subject that failed its
 * warm-up) is gone from `end.processes`: its CPU is read from the driver's reaped children.
 * MUST: counted, or all of it shows as other processes' load on the machine. Its whole life is
 * there, so what a group still alive at `start` had used by then is taken off with the groups'.
 */
export function benchCpuMs(
  start: MachineSnapshot,
  end: MachineSnapshot,
  groups: ReadonlySet<number>,
  driverCpuMs: number,
): number {
  let ms = driverCpuMs + end.reapedChildrenCpuMs - start.reapedChildrenCpuMs;
  for (const pgrp of groups)
    ms += readGroupCpuMs(pgrp, end.processes) - readGroupCpuMs(pgrp, start.processes);
  return ms;
}

export type MachineReport = {
  readonly cores: number;
  readonly seconds: number;
  readonly loadAtStart: readonly number[];
  readonly loadAtEnd: readonly number[];
  /** Average cores kept busy by everything on the machine during the run. */
  readonly busyCores: number;
  /** Average cores kept busy by the benchmark's own processes (driver, provider, servers). */
  readonly benchCores: number;
  /** Average cores kept busy by everything else (other users' builds and tests). */
  readonly otherCores: number;
  /** The other processes that used the most CPU during the run. */
  readonly topOthers: ReadonlyArray<{ command: string; pid: number; cpuSeconds: number }>;
};

/**
 * How busy the machine was between two snapshots, and how much of that was not the benchmark.
 * `ours` are the process groups the benchmark started, plus its own pid.
 */
export function describeMachine(
  start: MachineSnapshot,
  end: MachineSnapshot,
  oursCpuMs: number,
  isOurs: (p: ProcessSample) => boolean,
): MachineReport {
  const seconds = (end.at - start.at) / 1000;
  const busyMs = end.cpu.busy - start.cpu.busy;
  const before = new Map(start.processes.map((p) => [p.pid, p]));
  const others = end.processes
    .filter((p) => !isOurs(p))
    .map((p) => ({
      command: p.command,
      pid: p.pid,
      cpuSeconds: (p.cpuMs - (before.get(p.pid)?.cpuMs ?? 0)) / 1000,
    }))
    .filter((p) => p.cpuSeconds > 0.05)
    .sort((a, b) => b.cpuSeconds - a.cpuSeconds);
  return {
    cores: cpus().length,
    seconds,
    loadAtStart: start.load,
    loadAtEnd: end.load,
    busyCores: busyMs / 1000 / seconds,
    benchCores: oursCpuMs / 1000 / seconds,
    otherCores: Math.max(0, busyMs - oursCpuMs) / 1000 / seconds,
    topOthers: others.slice(0, 5),
  };
}
