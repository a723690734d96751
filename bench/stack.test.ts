import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { buildAuthorizationParameters } from '../lib/sign-in';
import { createMaterial, defineSubjects, isBuildStale, PEER_SOURCES } from './stack';

describe('the peer build', () => {
  it('is rebuilt after its packages were installed again (another SDK version)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peer-'));
    try {
      const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));
      for (const [path, seconds] of [
        ['package.json', 0],
        ['package-lock.json', 0],
        ['.next/BUILD_ID', 10],
        ['node_modules/.package-lock.json', 20],
      ] as const) {
        mkdirSync(join(dir, path, '..'), { recursive: true });
        writeFileSync(join(dir, path), 'x');
        utimesSync(join(dir, path), at(seconds), at(seconds));
      }
      assert.equal(isBuildStale(dir, PEER_SOURCES), true);
      utimesSync(join(dir, '.next/BUILD_ID'), at(30), at(30));
      assert.equal(isBuildStale(dir, PEER_SOURCES), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the authorization request', () => {
  it("of the peer is the app's: the same scope and resource (the same grant at the provider)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'subjects-'));
    try {
      const [app, peer] = await defineSubjects(['app', 'peer'], {
        issuer: new URL('http://localhost:9'),
        material: await createMaterial(dir),
      });
      // The app's own parameters, from the environment the bench starts it with.
      for (const [key, value] of Object.entries(app?.env ?? {})) process.env[key] = value;
      const sent = await buildAuthorizationParameters({
        state: 's',
        nonce: 'n',
        code_verifier: 'v'.repeat(43),
      });
      assert.equal(peer?.env.BENCH_PEER_SCOPE, sent.scope);
      assert.equal(peer?.env.BENCH_PEER_RESOURCE, sent.resource);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the settings of a Next.js subject', () => {
  it("are the bench's alone: .env files in its folder do not reach it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'subjects-'));
    try {
      // A developer's .env.local (as README, Configuration, has them write one): their Redis and
      // the FAPI 2.0 settings, none of which the subject "app" is measured with.
      writeFileSync(join(dir, '.env.local'), 'REDIS_URL=redis://127.0.0.1:9\nOIDC_PAR=true\n');
      const subjects = await defineSubjects(['app', 'peer'], {
        issuer: new URL('http://localhost:9'),
        material: await createMaterial(dir),
      });
      for (const subject of subjects) {
        // What `next start` does with the folder's .env files (@next/env, production), in a
        // process started with the subject's environment.
        const seen = execFileSync(
          process.execPath,
          [
            '-e',
            `require('@next/env').loadEnvConfig(process.argv[1], false, { info() {}, error() {} });
             process.stdout.write(JSON.stringify([process.env.REDIS_URL, process.env.OIDC_PAR]));`,
            dir,
          ],
          { env: subject.env, encoding: 'utf8' },
        );
        assert.deepEqual(JSON.parse(seen), [null, null], subject.id);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
