import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

/**
 * Starting and stopping the app and the bundled provider as child processes: used by
 * `npm run demo` and by the end-to-end tests. Each child gets its own process group so that
 * stopping it by PID also stops anything it started.
 */

export type Child = {
  readonly name: string;
  readonly process: ChildProcess;
  readonly output: string[];
};

export type StartOptions = {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Prints each output line with this prefix; otherwise lines are only kept. */
  readonly echo?: boolean;
};

const MAX_KEPT_LINES = 2000;

/** Spawns a child in its own process group, collecting (and optionally echoing) its output. */
export function startChild(options: StartOptions): Child {
  const child = spawn(options.command, [...options.args], {
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      output.push(line);
      if (output.length > MAX_KEPT_LINES) output.shift();
      if (options.echo) console.log(`${options.name.padEnd(4)}| ${line}`);
    });
  }
  return { name: options.name, process: child, output };
}

/** Polls `url` until it answers 2xx, the child exits, or `timeoutMs` passes. */
export async function waitForHttp(url: string, child: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw new Error(
        `${child.name} exited before it was ready:\n${child.output.slice(-30).join('\n')}`,
      );
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${child.name} was not ready at ${url} within ${timeoutMs} ms:\n${child.output.slice(-30).join('\n')}`,
  );
}

/** Stops a child's whole process group (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopChild(child: Child, graceMs = 3000): Promise<void> {
  const { pid } = child.process;
  if (pid === undefined || child.process.exitCode !== null || child.process.signalCode !== null)
    return;
  const exited = new Promise<void>((done) => child.process.once('exit', () => done()));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** `node` with tsx loaded, for running the TypeScript entry points in one process. */
export function tsxNode(
  entry: string,
  extra: readonly string[] = [],
): { command: string; args: string[] } {
  return { command: process.execPath, args: ['--import', 'tsx', entry, ...extra] };
}

/** The app's production start, in its folder (`npm start`). */
export const APP_START = join('scripts', 'start.mjs');

/**
 * The app's production server as `npm start` runs it (./start.mjs: `next start` with the compile
 * cache on from the first module), run directly rather than through npm. `dir` is the app's folder.
 */
export function appServer(args: readonly string[], dir = '.'): { command: string; args: string[] } {
  return { command: process.execPath, args: [join(dir, APP_START), ...args] };
}

/** The Next.js CLI, run directly (not through npx, which would leave next-server behind). */
export function nextCli(args: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: ['node_modules/next/dist/bin/next', ...args] };
}

/** Ports this process has handed out (see {@link findFreePort}). */
const handedOut = new Set<number>();

/**
 * A TCP port free on loopback right now (for servers started by tests), and never one this process
 * handed out before: several ports are often taken before any of their servers listens (the
 * bench's subjects, then its provider), and the system may assign a port again once its probe
 * has closed, so two servers of one run could be given the same one.
 */
export async function findFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    await new Promise((done) => server.close(done));
    if (!address || typeof address !== 'object') throw new Error('no port was assigned');
    if (handedOut.has(address.port)) continue;
    handedOut.add(address.port);
    return address.port;
  }
  throw new Error('no free port this process has not handed out already');
}
