import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { APP_START } from './processes';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

// Loaded before the launcher: notes, when the first module of Next.js is compiled, where the
// compile cache is (if it is on) and the arguments Next.js's CLI will read.
const PROBE = `
const Module = require('node:module');
const compile = Module.prototype._compile;
let first;
Module.prototype._compile = function (content, filename) {
  if (first === undefined && filename.includes('/node_modules/next/'))
    first = { filename, cache: Module.getCompileCacheDir() ?? null, argv: process.argv.slice(2) };
  return compile.call(this, content, filename);
};
process.on('exit', () => process.stderr.write('\\nFIRST ' + JSON.stringify(first) + '\\n'));
`;

type First = { filename: string; cache: string | null; argv: string[] };

describe('npm start (scripts/start.mjs)', () => {
  it('turns the compile cache on in the app’s folder before Next.js’s first module, and starts this app', () => {
    // Started from elsewhere (a shared /tmp): the cache and the app are still the app's own.
    const cwd = mkdtempSync(join(tmpdir(), 'rp-start-'));
    try {
      const probe = join(cwd, 'probe.cjs');
      writeFileSync(probe, PROBE);
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.NODE_COMPILE_CACHE;
      delete env.NODE_OPTIONS;
      // `--help`: Next.js's CLI loads `next start`, prints its options and exits.
      const run = spawnSync(
        process.execPath,
        ['--require', probe, join(ROOT, APP_START), '-p', '4321', '--help'],
        { cwd, env, encoding: 'utf8' },
      );
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /Usage: next start/);
      const line = run.stderr.split('\n').find((l) => l.startsWith('FIRST '));
      assert.ok(line, `no trace of Next.js: ${run.stderr}`);
      const first = JSON.parse(line.slice('FIRST '.length)) as First;
      assert.equal(first.filename, join(ROOT, 'node_modules', 'next', 'dist', 'bin', 'next'));
      const expected = join(ROOT, '.next', 'node-compile-cache');
      assert.ok(first.cache?.startsWith(`${expected}/`), `the cache was ${first.cache}`);
      assert.deepEqual(first.argv, ['start', ROOT, '-p', '4321', '--help']);
      assert.equal(existsSync(join(cwd, '.next')), false, 'nothing written where it was started');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
