import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** next.config.js beyond its headers (./security-headers.test.ts): Node.js's compile cache. */

const CONFIG = fileURLToPath(new URL('../next.config.js', import.meta.url));

describe('next.config.js compile cache', () => {
  it('is kept in the app’s own folder, whichever folder the server is started from', () => {
    // `next start /srv/app` run from elsewhere (a shared /tmp) must not read bytecode from there:
    // another user of the machine could have planted it.
    const cwd = mkdtempSync(join(tmpdir(), 'rp-start-here-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.NODE_COMPILE_CACHE;
      const script = [
        `await import(${JSON.stringify(pathToFileURL(CONFIG).href)});`,
        `const { getCompileCacheDir } = await import('node:module');`,
        `console.log(getCompileCacheDir() ?? '(none)');`,
      ].join('\n');
      const dir = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd,
        env,
        encoding: 'utf8',
      }).trim();
      const expected = join(dirname(CONFIG), '.next', 'node-compile-cache');
      assert.ok(dir.startsWith(`${expected}/`), `the cache is in ${dir}`);
      assert.equal(existsSync(join(cwd, '.next')), false, 'nothing written where it was started');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
