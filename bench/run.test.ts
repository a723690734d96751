import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, it } from 'node:test';

/** Whether something accepts connections on `port` of loopback now. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, 'localhost');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** Starts `npm run bench` with `args`, resolves once `until` is in its output (or it exits). */
async function startBench(args: readonly string[], until: string) {
  const bench = spawn(process.execPath, ['--import', 'tsx', 'bench/index.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((done) => bench.once('exit', (code) => done(code)));
  const reached = await new Promise<boolean>((done) => {
    const timer = setTimeout(() => done(false), 60_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes(until)) {
        clearTimeout(timer);
        done(true);
      }
    };
    bench.stdout.on('data', read);
    bench.stderr.on('data', read);
    void exited.then(() => done(false));
  });
  return { bench, exited, reached, output: () => output };
}

describe('npm run bench, one subject failing', () => {
  it('reports a subject that cannot be built and goes on measuring the others', async () => {
    const run = await startBench(
      ['--quick', '--only', 'floor,base', '--baseline', '/nonexistent/checkout'],
      'Signing in the virtual users',
    );
    if (run.reached) run.bench.kill('SIGINT');
    await run.exited;
    assert.ok(run.reached, `the run went on with the floor:\n${run.output()}`);
    assert.match(run.output(), /base is not measured \(build failed\): --baseline/);
  });
});

describe('npm run bench, interrupted', () => {
  it('stops the provider and the servers it started on Ctrl-C (SIGINT)', async () => {
    // The floor alone: no build, no install. Interrupted as soon as the servers are up.
    const bench = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/index.ts', '--quick', '--only', 'floor'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const ports: number[] = [];
    const exited = new Promise<number | null>((done) => bench.once('exit', (code) => done(code)));
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`bench did not start:\n${output}`)), 60_000);
      bench.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (ports.length === 0 && output.includes('Signing in the virtual users')) {
          for (const m of output.matchAll(/http:\/\/localhost:(\d+)/g)) ports.push(Number(m[1]));
          clearTimeout(timer);
          done();
        }
      });
      bench.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    });
    assert.equal(ports.length, 2, `the floor's and the provider's ports in:\n${output}`);
    bench.kill('SIGINT');
    const code = await exited;
    assert.notEqual(code, 0, 'an interrupted run does not exit as a success');
    const deadline = Date.now() + 10_000;
    let up = ports;
    while (Date.now() < deadline) {
      up = [];
      for (const port of ports) if (await listening(port)) up.push(port);
      if (up.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(up, [], `still listening after the interrupt: ${up.join(', ')}`);
  });
});
