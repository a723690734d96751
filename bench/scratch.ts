// scratch: not committed
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findFreePort } from '../scripts/processes';
import { createAgent, get } from './http';
import { createVirtualUser, readMe, signInInteractively, signInWarm } from './login';
import { readGroupCpuMs, summarize } from './measure';
import { createMaterial, defineSubjects, startCold, startProvider, stopChild } from './stack';

const mode = process.argv[2] ?? 'me';
const n = Number(process.argv[3] ?? 2000);
const prof = process.argv.includes('--prof');
const material = await createMaterial(mkdtempSync(join(tmpdir(), 'scr-')));
const issuer = new URL(`http://localhost:${await findFreePort()}`);
const subjects = await defineSubjects(['app'], {
  issuer,
  material,
  appNodeOptions: prof
    ? `--cpu-prof --cpu-prof-dir=${resolve('bench/results/scratch-prof')}`
    : undefined,
});
const op = await startProvider(issuer, subjects, material);
const s = subjects[0]!;
const { child, coldStartMs } = await startCold(s);
console.log('cold', coldStartMs.toFixed(0));
const user = createVirtualUser();
const agents = { rp: createAgent(1), op: createAgent(1) };
await signInInteractively(s.url, user, agents, { login: 'alice', password: 'alice-password' });
for (let i = 0; i < 50; i++) await signInWarm(s.url, user, agents, 'alice');
const pid = child.process.pid!;
const samples: number[] = [];
const c0 = readGroupCpuMs(pid);
for (let i = 0; i < n; i++) {
  if (mode === 'me') samples.push(await readMe(s.url, user, agents.rp, 'alice'));
  else if (mode === 'anon') {
    const t = performance.now();
    await get(new URL('/api/me', s.url), undefined, agents.rp);
    samples.push(performance.now() - t);
  } else if (mode === 'jwks') {
    const t = performance.now();
    await get(new URL('/.well-known/jwks.json', s.url), undefined, agents.rp);
    samples.push(performance.now() - t);
  } else if (mode === 'home') {
    const t = performance.now();
    await get(new URL('/', s.url), undefined, agents.rp);
    samples.push(performance.now() - t);
  } else samples.push((await signInWarm(s.url, user, agents, 'alice')).total);
}
const cpu = readGroupCpuMs(pid) - c0;
const sum = summarize(samples);
console.log(
  mode,
  'p50',
  sum.p50.toFixed(2),
  'p95',
  sum.p95.toFixed(2),
  'cpu/req',
  (cpu / n).toFixed(2),
);
agents.rp.destroy();
agents.op.destroy();
await stopChild(child);
await stopChild(op);
process.exit(0);
