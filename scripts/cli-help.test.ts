import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Runs a command-line tool as `npm run <name> -- <args>` does, against a provider that cannot
 * answer (port 9 of loopback: discard), so that a tool which ignored its arguments and went on
 * to its work would show it.
 */
function run(script: string, args: readonly string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...process.env,
      OIDC_ISSUER: 'http://127.0.0.1:9',
      OIDC_HTTP_TIMEOUT_MS: '500',
      APP_URL: 'http://127.0.0.1:9',
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const TOOLS = [
  { script: 'keys/cli.ts', usage: /npm run keys -- rotate/, options: ['--cert', '--force'] },
  { script: 'scripts/doctor.ts', usage: /npm run doctor -- \[--json\]/, options: ['--json'] },
  {
    script: 'scripts/provider-check.ts',
    usage: /--grant client_credentials/,
    options: ['--rfc10070', '--json'],
  },
  { script: 'scripts/client-credentials.ts', usage: /--local/, options: ['--local'] },
] as const;

describe('the command-line tools: --help and unknown options', () => {
  for (const tool of TOOLS) {
    it(`${tool.script} --help prints its usage and exits 0, doing nothing else`, () => {
      for (const flag of ['--help', '-h']) {
        const { status, stdout, stderr } = run(tool.script, [flag]);
        assert.equal(status, 0, `${flag}: exit ${status}\n${stdout}\n${stderr}`);
        assert.match(stdout, tool.usage);
        for (const option of tool.options) assert.ok(stdout.includes(option), option);
        assert.doesNotMatch(stdout + stderr, /127\.0\.0\.1:9|ECONNREFUSED|DEVELOPMENT KEY/);
      }
    });

    it(`${tool.script} refuses an unknown option (a typo) with its usage, exit 2`, () => {
      const { status, stdout, stderr } = run(tool.script, ['--jsno']);
      assert.equal(status, 2, `exit ${status}\n${stdout}\n${stderr}`);
      assert.match(stderr, /unknown option "--jsno"/);
      assert.match(stderr, tool.usage);
      assert.doesNotMatch(stdout + stderr, /127\.0\.0\.1:9|ECONNREFUSED/);
    });
  }
});
