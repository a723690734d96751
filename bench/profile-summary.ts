import { readFileSync } from 'node:fs';

/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, as `npm run bench -- --cpu-prof` writes for the
 * app): where the busy time went, by package or file and by function, self and inclusive.
 *
 *   npx tsx bench/profile-summary.ts bench/results/profiles/CPU.….cpuprofile [top] [skip ms]
 */

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type Profile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

/** Where a frame comes from: a package, the app's own chunks, Node's internals, or V8. */
export function originOf(url: string): string {
  if (!url) return '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) {
    const inner = /next\/dist\/compiled\/([^/]+)/.exec(url);
    return inner?.[1] ? `next (${inner[1]})` : pkg[1];
  }
  if (url.startsWith('node:'))
    return url.replace(/^node:internal\/?/, 'node:').split('/')[0] ?? url;
  if (url.includes('/.next/')) return 'app (.next chunks)';
  return url.replace(/^file:\/\//, '');
}

/** `skipMs`: leave out the first milliseconds of the profile (start-up, warm-up). */
export function summarizeProfile(profile: Profile, top = 25, skipMs = 0): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  let at = 0;
  profile.samples.forEach((id, i) => {
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    at += delta;
    if (at >= skipMs) self.set(id, (self.get(id) ?? 0) + delta);
  });
  let total = 0;
  let idle = 0;
  const selfByFn = new Map<string, number>();
  const selfByOrigin = new Map<string, number>();
  const inclusiveByFn = new Map<string, number>();
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const name = node.callFrame.functionName;
    if (name === '(idle)' || name === '(program)') {
      idle += name === '(idle)' ? ms : 0;
      if (name === '(idle)') continue;
    }
    total += ms;
    const key = `${name || '(anonymous)'} ${originOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    selfByFn.set(key, (selfByFn.get(key) ?? 0) + ms);
    const origin = originOf(node.callFrame.url);
    selfByOrigin.set(origin, (selfByOrigin.get(origin) ?? 0) + ms);
    // Inclusive: count once per distinct function on the stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)?.callFrame;
      if (!frame) break;
      const fn = `${frame.functionName || '(anonymous)'} ${originOf(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(fn)) continue;
      seen.add(fn);
      inclusiveByFn.set(fn, (inclusiveByFn.get(fn) ?? 0) + ms);
    }
  }
  const list = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(
        ([k, ms]) =>
          `  ${((ms / total) * 100).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(6)} ms  ${k}`,
      )
      .join('\n');
  return [
    `busy ${total.toFixed(0)} ms (idle ${idle.toFixed(0)} ms)`,
    'self time by origin:',
    list(selfByOrigin, 15),
    'self time by function:',
    list(selfByFn, top),
    'inclusive time by function:',
    list(inclusiveByFn, top * 2),
  ].join('\n');
}

const file = process.argv[2];
if (file) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  console.log(
    summarizeProfile(profile, Number(process.argv[3] ?? 25), Number(process.argv[4] ?? 0)),
  );
}
