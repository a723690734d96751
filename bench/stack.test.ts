import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { isBuildStale, PEER_SOURCES } from './stack';

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
