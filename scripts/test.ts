import { spawn } from 'node:child_process';

/**
 * `npm test` — every check, in stages. The steps of a stage run side by side (the machine has two
 * cores and none of these steps keeps both busy); a stage starts only when the one before passed:
 *
 *   1. the Node.js in use (`npm run runtime`)
 *   2. format, lint, type check
 *   3. unit and protocol tests, and the production build the browser tests run
 *   4. the browser tests (Playwright, three workers: much of their time is spent waiting)
 *   5. the suite for any provider, against the bundled provider as an external one
 *
 * The browser tests' output is shown as it comes, the others' whole when each step ends. A table
 * of the steps and their times ends the run; the exit status is non-zero when any step failed.
 */

type Outcome = {
  readonly script: string;
  readonly status: 'passed' | 'failed' | 'not run';
  readonly seconds: number;
};

const STAGES: readonly (readonly string[])[] = [
  ['runtime'],
  ['format:check', 'lint', 'typecheck'],
  ['test:unit', 'build'],
  ['test:e2e'],
  ['test:provider:bundled'],
];

/** Runs `npm run <script>`: `live`, or its output printed whole when it ends. */
function runScript(script: string, live: boolean): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', script], {
      stdio: live ? 'inherit' : ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    const chunks: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      const status = code === 0 ? 'passed' : 'failed';
      if (!live) {
        const why = code === 0 ? '' : ` (${signal ?? code})`;
        const title = `── npm run ${script}: ${status}${why}, ${seconds.toFixed(1)} s `;
        process.stdout.write(`\n${title.padEnd(100, '─')}\n${Buffer.concat(chunks).toString()}`);
      }
      resolve({ script, status, seconds });
    });
  });
}

async function main(): Promise<number> {
  const started = performance.now();
  const outcomes: Outcome[] = [];
  for (const stage of STAGES) {
    if (outcomes.some((o) => o.status !== 'passed')) {
      outcomes.push(...stage.map((script) => ({ script, status: 'not run' as const, seconds: 0 })));
      continue;
    }
    outcomes.push(
      ...(await Promise.all(stage.map((script) => runScript(script, stage.length === 1)))),
    );
  }
  const total = (performance.now() - started) / 1000;
  console.log('\nnpm test:');
  for (const o of outcomes)
    console.log(
      `  ${o.status.padEnd(7)} ${o.script.padEnd(22)} ${o.seconds.toFixed(1).padStart(6)} s`,
    );
  const failed = outcomes.some((o) => o.status !== 'passed');
  console.log(`  ${failed ? 'FAILED' : 'all passed'} in ${total.toFixed(1)} s (wall clock)`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
