import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../scripts/processes';
import { createAgent } from './http';
import { createVirtualUser, signInInteractively, signInWarm, type StepTimes } from './login';
import {
  createMaterial,
  defineSubjects,
  startCold,
  startProvider,
  startRedis,
  stopChild,
  type SubjectId,
} from './stack';

const ids = (process.argv[2] ?? 'app,base').split(',') as SubjectId[];
const blocks = Number(process.argv[3] ?? 10);
const per = Number(process.argv[4] ?? 100);
const dir = mkdtempSync(join(tmpdir(), 'ab-'));
const material = await createMaterial(dir);
const redis = ids.some((i) => i.endsWith('+redis')) ? await startRedis() : undefined;
const issuer = new URL(`http://localhost:${await findFreePort()}`);
const subjects = await defineSubjects(ids, {
  issuer,
  material,
  redisUrl: redis?.url,
  baselineDir: process.env.BASE,
});
const op = await startProvider(issuer, subjects, material, () => undefined);
const runs = [];
for (const s of subjects) {
  const { child } = await startCold(s, () => undefined);
  const user = createVirtualUser();
  const agents = { rp: createAgent(1), op: createAgent(1) };
  await signInInteractively(s.url, user, agents, { login: 'alice', password: 'alice-password' });
  for (let i = 0; i < 200; i++) await signInWarm(s.url, user, agents, 'alice');
  runs.push({ s, child, user, agents, times: [] as StepTimes[] });
}
for (let b = 0; b < blocks; b++)
  for (const r of b % 2 ? [...runs].reverse() : runs)
    for (let i = 0; i < per; i++)
      r.times.push(await signInWarm(r.s.url, r.user, r.agents, 'alice'));
const p50 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
for (const r of runs) {
  const t = r.times;
  console.log(
    r.s.id.padEnd(11),
    ['login', 'callback', 'me', 'total']
      .map((k) => `${k} ${p50(t.map((x) => x[k as keyof StepTimes])).toFixed(2)}`)
      .join('  '),
  );
}
for (const r of runs) await stopChild(r.child);
await stopChild(op);
if (redis) await stopChild(redis.child);
