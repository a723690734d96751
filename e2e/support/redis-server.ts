import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { findFreePort } from '../../scripts/processes';

/**
 * A real `redis-server` (Debian's package) for the tests: on a free loopback port, stopped by PID
 * at the end. `stop()` then `start()` again is an outage on the same port; without `persist` the
 * data goes with it, with `persist` it is kept (an append-only file in a temporary directory,
 * written on every command), as a production Redis keeps it across a restart. `pause()` freezes
 * the server instead (connections stay open, nothing answers).
 */

export type RedisServer = {
  readonly port: number;
  readonly url: string;
  /** Starts (or restarts) the server on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops the server process (its data goes with it, unless `persist`). */
  stop(): Promise<void>;
  /** Stops the server and deletes its files. */
  remove(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing answers; data kept. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
};

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((done, fail) => {
    const attempt = () => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        done();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) fail(new Error(`redis-server did not listen on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Starts a redis-server on a free loopback port. */
export async function startRedisServer(options: { persist?: boolean } = {}): Promise<RedisServer> {
  const port = await findFreePort();
  const dir = options.persist ? mkdtempSync(join(tmpdir(), 'rp-redis-')) : undefined;
  const storage = dir
    ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '']
    : ['--save', '', '--appendonly', 'no'];
  let child: ChildProcess | undefined;
  const output: string[] = [];

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      const started = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', ...storage],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      started.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      started.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      const failed = new Promise<never>((_, fail) =>
        started.once('error', (err) =>
          fail(
            new Error(`cannot start redis-server (apt-get install redis-server): ${err.message}`),
          ),
        ),
      );
      child = started;
      await Promise.race([waitForPort(port, 10_000), failed]);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise<void>((done) => running.once('exit', () => done()));
      running.kill('SIGCONT');
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
    async remove() {
      await server.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
  };
  await server.start();
  return server;
}
