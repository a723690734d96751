import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Redis } from 'ioredis';

import { findFreePort, type Child } from '../scripts/processes';
import { createAgent, get } from './http';
import { createVirtualUser, signInInteractively, signInWarm, type Agents } from './login';
import {
  createMaterial,
  defineSubjects,
  startCold,
  startProvider,
  startRedis,
  stopChild,
  type Subject,
} from './stack';

describe('the floor with REDIS_URL (floor+redis)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'floor-redis-'));
  const children: Child[] = [];
  let subject: Subject;
  let redis: Redis;
  let agents: Agents;

  before(async () => {
    const started = await startRedis((c) => void children.push(c));
    redis = new Redis(started.url);
    const material = await createMaterial(dir);
    const issuer = new URL(`http://localhost:${await findFreePort()}`);
    // Two clients at the provider, this one second: every relying party of a run gets the same
    // grant (refresh token included), not only the first of the list.
    const subjects = await defineSubjects(['floor', 'floor+redis'], {
      issuer,
      material,
      redisUrl: started.url,
    });
    subject = subjects[1] as Subject;
    assert.equal(subject.env.REDIS_URL, started.url);
    await startProvider(issuer, subjects, material, (c) => void children.push(c));
    await startCold(subject, (c) => void children.push(c));
    agents = { rp: createAgent(1), op: createAgent(1) };
  });

  after(async () => {
    redis?.disconnect();
    for (const child of children.reverse()) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the session in Redis, ends the earlier one at each sign-in, and reads it back', async () => {
    const user = createVirtualUser();
    await signInInteractively(subject.url, user, agents, {
      login: 'alice',
      password: 'alice-password',
    });
    // Each warm sign-in checks that /api/me answers alice's claims.
    await signInWarm(subject.url, user, agents, 'alice');
    await signInWarm(subject.url, user, agents, 'alice');
    const sessions = await redis.keys('floor:s:*');
    assert.equal(sessions.length, 1, 'one session: each sign-in ended the one before');
    const [key] = sessions;
    const record = JSON.parse((await redis.hget(key ?? '', 'r')) ?? '{}') as {
      sub?: string;
      refresh_token?: unknown;
    };
    assert.equal(record.sub, 'alice');
    assert.equal(typeof record.refresh_token, 'string', 'the provider issued it a refresh token');
    // The user's index holds that session only (the earlier ones left it).
    assert.deepEqual(await redis.zrange('floor:subx:alice', '0', '-1'), [
      key?.slice('floor:s:'.length),
    ]);
    // The cookie holds the id, the claims live in Redis: without the key, the floor is signed out.
    await redis.del(key ?? '');
    const me = await get(new URL('/api/me', subject.url), user.rp, agents.rp);
    assert.equal(me.status, 401);
  });
});
