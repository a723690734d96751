import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import type { JWK } from 'jose';

import { findFreePort, type Child } from '../scripts/processes';
import { measureCryptoFloor } from './crypto-floor';
import { createAgent, get } from './http';
import {
  createVirtualUser,
  readMe,
  readBare,
  readSignedOut,
  signInInteractively,
  signInWarm,
  type Account,
  type StepTimes,
  type VirtualUser,
} from './login';
import {
  createGroupCpuReader,
  benchCpuMs,
  describeMachine,
  readGroupPeakRssMb,
  readGroupRssMb,
  snapshotMachine,
  summarize,
} from './measure';
import {
  checkTargets,
  CONCURRENCY_LEVELS,
  formatMachine,
  formatTable,
  formatTargets,
  type BackChannelKind,
  type BenchResult,
  type Concurrency,
  type LoadFigures,
  type NotMeasured,
  type SubjectFigures,
} from './report';
import {
  createMaterial,
  defineSubjects,
  ensureAppBuild,
  ensurePeerBuild,
  startCold,
  startProvider,
  readRedisCommands,
  startRedis,
  usesRedis,
  stopChild,
  type Subject,
  type SubjectId,
} from './stack';

/**
 * `npm run bench` — this app side by side with the peer a Next.js user would pick
 * (@auth0/nextjs-auth0 v4, private_key_jwt) and a floor (plain node:http on openid-client doing the
 * app's protocol work), against one bundled provider, in one interleaved run on loopback: sign-in
 * latency by step, throughput at concurrency 1/8/32, CPU per sign-in (the provider's apart),
 * back-channel requests per sign-in, memory, cold start, and how busy the machine was. Prints one
 * table with ratios and the issue's targets, and writes the figures as JSON.
 *
 *   npm run bench                      full run (a few minutes)
 *   npm run bench -- --quick           under a minute once everything is built
 *   npm run bench -- --redis           adds the app and the floor with REDIS_URL (a redis-server
 *                                      started here): app+redis, floor+redis
 *   npm run bench -- --only app,peer   a subset (floor, floor+redis, peer, app, app+redis, base,
 *                                      base+redis)
 *   npm run bench -- --cpu-prof        also writes CPU profiles of the app (bench/results/profiles)
 *   npm run bench -- --json FILE       where to write the JSON (default bench/results/<time>.json)
 *   npm run bench -- --baseline DIR    adds another checkout of the app (built there), as `base`
 *                                      (and `base+redis` with --redis)
 *   npm run bench -- --machine         the machine-to-machine figures instead (bench/machine-to-machine.ts)
 *
 * Every loop is bounded in count and time; every server listens on loopback and is stopped at the
 * end, by process group.
 */

type Options = {
  readonly quick: boolean;
  readonly redis: boolean;
  readonly only: readonly SubjectId[] | undefined;
  readonly cpuProf: boolean;
  readonly json: string | undefined;
  readonly baseline: string | undefined;
};

const SIZES = {
  quick: {
    // Three, and as many warm-up sign-ins as a full run: fewer samples, but the same start-up
    // (the median of three leaves out a first start that fills the compile cache) and the same
    // steady state (with 20, the app's sign-in measured about 0.1× further from the floor's).
    coldStarts: 3,
    warmupLogins: 60,
    counted: 10,
    sequential: 50,
    me: 200,
    load: { 1: 30, 8: 64, 32: 128 },
    slices: 2,
    crypto: 200,
  },
  full: {
    // Five: the first start after a build fills Node's compile cache (next.config.js); the median
    // of five is one of the starts that found it, as every later restart does.
    coldStarts: 5,
    warmupLogins: 60,
    counted: 20,
    sequential: 250,
    me: 1000,
    load: { 1: 100, 8: 240, 32: 480 },
    slices: 4,
    crypto: 1000,
  },
} as const;

/** No phase of one subject runs longer than this, whatever its size. */
const PHASE_DEADLINE_MS = 90_000;
const ACCOUNT: Account = { login: 'alice', password: 'alice-password' };
const ALL: readonly SubjectId[] = ['floor', 'peer', 'app'];

function parseOptions(args: readonly string[]): Options {
  const valueOf = (flag: string) => {
    const index = args.indexOf(flag);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const only = valueOf('--only')
    ?.split(',')
    .map((s) => s.trim()) as SubjectId[] | undefined;
  for (const id of only ?? []) {
    if (!['floor', 'floor+redis', 'peer', 'app', 'app+redis', 'base', 'base+redis'].includes(id))
      throw new Error(
        `--only: unknown subject "${id}" (floor, floor+redis, peer, app, app+redis, base, base+redis)`,
      );
  }
  return {
    quick: args.includes('--quick'),
    redis: args.includes('--redis') || (only?.some(usesRedis) ?? false),
    only,
    cpuProf: args.includes('--cpu-prof'),
    json: valueOf('--json'),
    baseline: valueOf('--baseline'),
  };
}

/** Each round starts with another subject, so none always runs first or last. */
function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  return items.map((_, i) => items[(i + by) % n] as T);
}

type Counts = Record<string, number>;

async function readProviderCounts(issuer: URL): Promise<Counts> {
  const reply = await get(new URL('/bench/requests', issuer), undefined, false);
  return JSON.parse(reply.body) as Counts;
}

function diffCounts(after: Counts, before: Counts): Counts {
  const out: Counts = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta > 0) out[key] = delta;
  }
  return out;
}

type EndpointKinds = { readonly classify: (key: string) => BackChannelKind | 'authorize' };

async function learnEndpoints(issuer: URL): Promise<EndpointKinds> {
  const reply = await get(new URL('/.well-known/openid-configuration', issuer), undefined, false);
  const metadata = JSON.parse(reply.body) as Record<string, unknown>;
  const pathOf = (member: string) =>
    typeof metadata[member] === 'string' ? new URL(metadata[member]).pathname : undefined;
  const paths = new Map<string | undefined, BackChannelKind | 'authorize'>([
    [pathOf('token_endpoint'), 'token'],
    [pathOf('userinfo_endpoint'), 'userinfo'],
    [pathOf('jwks_uri'), 'jwks'],
    ['/.well-known/openid-configuration', 'discovery'],
    [pathOf('authorization_endpoint'), 'authorize'],
  ]);
  return {
    classify: (key) => paths.get(key.slice(key.indexOf(' ') + 1)) ?? 'other',
  };
}

/** Per-subject state of a run. */
type Run = {
  readonly subject: Subject;
  child: Child;
  readonly coldStartMs: number[];
  /** The relying party's part of the first sign-in after each cold start. */
  readonly firstSignInMs: number[];
  /** `GET /api/me` without a session (401): what a request costs before any session work. */
  readonly signedOut: number[];
  signedOutFailures: number;
  /** The peer only: `GET /bare`, an empty route handler (Next.js alone). */
  readonly bare: number[];
  bareFailures: number;
  readonly users: VirtualUser[];
  readonly steps: Record<keyof StepTimes, number[]>;
  sequentialFailures: number;
  sequentialRpCpuMs: number;
  sequentialOpCpuMs: number;
  sequentialCounts: Counts;
  countedLogins: number;
  readonly me: number[];
  meFailures: number;
  meRpCpuMs: number;
  providerRequestsPerRead: number;
  redisPerLogin: number;
  redisPerRead: number;
  readonly load: Partial<Record<Concurrency, LoadFigures>>;
  readonly errors: string[];
};

function recordError(run: Run, err: unknown): void {
  if (run.errors.length < 5) run.errors.push((err as Error).message.slice(0, 300));
}

function mergeCounts(into: Counts, add: Counts): void {
  for (const [k, v] of Object.entries(add)) into[k] = (into[k] ?? 0) + v;
}

type PhaseOutcome = {
  readonly totals: StepTimes[];
  readonly failures: number;
  readonly wallMs: number;
  /** The provider's CPU meanwhile (the relying party's is read over whole phases). */
  readonly opCpuMs: number;
};

/**
 * `count` warm logins of `run`'s users with `concurrency` at once (user i on worker i), bounded
 * by {@link PHASE_DEADLINE_MS}. The provider's CPU is read before and after.
 */
async function runLogins(
  run: Run,
  concurrency: number,
  count: number,
  provider: Child,
): Promise<PhaseOutcome> {
  const agents = { rp: createAgent(concurrency), op: createAgent(concurrency) };
  const totals: StepTimes[] = [];
  let failures = 0;
  let issued = 0;
  const opCpu = createGroupCpuReader(provider.process.pid ?? -1);
  const opBefore = opCpu();
  const started = performance.now();
  const deadline = started + PHASE_DEADLINE_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const user = run.users[worker];
      if (!user) throw new Error(`no virtual user ${worker}`);
      while (issued < count && performance.now() < deadline) {
        issued++;
        try {
          totals.push(await signInWarm(run.subject.url, user, agents, ACCOUNT.login));
        } catch (err) {
          failures++;
          recordError(run, err);
        }
      }
    }),
  );
  const wallMs = performance.now() - started;
  const opCpuMs = opCpu() - opBefore;
  agents.rp.destroy();
  agents.op.destroy();
  return { totals, failures, wallMs, opCpuMs };
}

/** Signs the run's users in through the provider's forms, then warms the server up. */
async function prepareUsers(run: Run, users: number, warmupLogins: number, provider: Child) {
  const agents = { rp: createAgent(8), op: createAgent(8) };
  for (let i = 0; i < users; i += 8) {
    const batch = Array.from({ length: Math.min(8, users - i) }, () => createVirtualUser());
    await Promise.all(
      batch.map((user) => signInInteractively(run.subject.url, user, agents, ACCOUNT)),
    );
    run.users.push(...batch);
  }
  agents.rp.destroy();
  agents.op.destroy();
  const warm = await runLogins(run, Math.min(4, users), warmupLogins, provider);
  if (warm.failures > 0)
    throw new Error(`${run.subject.id}: warm-up sign-ins failed: ${run.errors.join('\n')}`);
}

/**
 * Sequential sign-ins, interleaved one by one: round after round, each subject signs its first
 * user in once (in rotated order), so that every subject meets the same background load.
 */
async function runSequential(runs: readonly Run[], rounds: number, provider: Child) {
  const agents = new Map(runs.map((r) => [r, { rp: createAgent(1), op: createAgent(1) }]));
  // A relying party's CPU is counted over the whole phase, not around each of its requests: work
  // it does after answering (garbage collection, timers) while the others take their turn is its
  // own too. The provider serves everyone, so its CPU is counted per request.
  const readers = new Map(runs.map((r) => [r, createGroupCpuReader(r.child.process.pid ?? -1)]));
  const starts = new Map(runs.map((r) => [r, readers.get(r)?.() ?? Number.NaN]));
  const opCpu = createGroupCpuReader(provider.process.pid ?? -1);
  const deadline = performance.now() + PHASE_DEADLINE_MS * runs.length;
  for (let round = 0; round < rounds && performance.now() < deadline; round++) {
    for (const run of rotate(runs, round)) {
      const user = run.users[0];
      const agent = agents.get(run);
      if (!user || !agent) throw new Error('run not prepared');
      const opBefore = opCpu();
      try {
        const t = await signInWarm(run.subject.url, user, agent, ACCOUNT.login);
        for (const key of Object.keys(run.steps) as (keyof StepTimes)[])
          run.steps[key].push(t[key]);
      } catch (err) {
        run.sequentialFailures++;
        recordError(run, err);
      }
      run.sequentialOpCpuMs += opCpu() - opBefore;
    }
  }
  for (const run of runs)
    run.sequentialRpCpuMs += (readers.get(run)?.() ?? Number.NaN) - (starts.get(run) ?? Number.NaN);
  for (const a of agents.values()) {
    a.rp.destroy();
    a.op.destroy();
  }
}

/**
 * Subject by subject (so that every request is attributed): the provider's requests during
 * `count` warm logins and then `count` session reads, and the Redis commands of both when the
 * subject has REDIS_URL.
 */
async function countRequests(
  run: Run,
  count: number,
  issuer: URL,
  provider: Child,
  redisUrl: string | undefined,
) {
  const redis = async () => (redisUrl ? readRedisCommands(redisUrl) : Number.NaN);
  const before = await readProviderCounts(issuer);
  const redisBefore = await redis();
  const outcome = await runLogins(run, 1, count, provider);
  run.countedLogins += outcome.totals.length;
  run.sequentialFailures += outcome.failures;
  mergeCounts(run.sequentialCounts, diffCounts(await readProviderCounts(issuer), before));
  const redisAfterLogins = await redis();
  // Each INFO counts as one command by the time of the next.
  run.redisPerLogin = (redisAfterLogins - redisBefore - 1) / outcome.totals.length;

  const user = run.users[0];
  if (!user) throw new Error('no signed-in user');
  const agent = createAgent(1);
  const readsBefore = await readProviderCounts(issuer);
  let reads = 0;
  for (let i = 0; i < count; i++) {
    try {
      await readMe(run.subject.url, user, agent, ACCOUNT.login);
      reads++;
    } catch (err) {
      run.meFailures++;
      recordError(run, err);
    }
  }
  agent.destroy();
  const counts = diffCounts(await readProviderCounts(issuer), readsBefore);
  run.providerRequestsPerRead = Object.values(counts).reduce((a, b) => a + b, 0) / reads;
  run.redisPerRead = ((await redis()) - redisAfterLogins - 1) / reads;
}

/** A signed-in user reading /api/me, interleaved request by request like the sign-ins. */
async function runMe(runs: readonly Run[], rounds: number) {
  const agents = new Map(runs.map((r) => [r, createAgent(1)]));
  // CPU over the whole phase, as in runSequential.
  const readers = new Map(runs.map((r) => [r, createGroupCpuReader(r.child.process.pid ?? -1)]));
  const starts = new Map(runs.map((r) => [r, readers.get(r)?.() ?? Number.NaN]));
  const deadline = performance.now() + PHASE_DEADLINE_MS * runs.length;
  for (let round = 0; round < rounds && performance.now() < deadline; round++) {
    for (const run of rotate(runs, round)) {
      const user = run.users[0];
      const agent = agents.get(run);
      if (!user || !agent) throw new Error('run not prepared');
      try {
        run.me.push(await readMe(run.subject.url, user, agent, ACCOUNT.login));
      } catch (err) {
        run.meFailures++;
        recordError(run, err);
      }
    }
  }
  for (const run of runs)
    run.meRpCpuMs += (readers.get(run)?.() ?? Number.NaN) - (starts.get(run) ?? Number.NaN);
  for (const a of agents.values()) a.destroy();
}

/** Requests with no session, interleaved request by request (see {@link readSignedOut}). */
async function runSignedOut(runs: readonly Run[], rounds: number) {
  const agents = new Map(runs.map((r) => [r, createAgent(1)]));
  const deadline = performance.now() + PHASE_DEADLINE_MS * runs.length;
  for (let round = 0; round < rounds && performance.now() < deadline; round++) {
    for (const run of rotate(runs, round)) {
      try {
        run.signedOut.push(await readSignedOut(run.subject.url, agents.get(run) ?? false));
      } catch (err) {
        run.signedOutFailures++;
        recordError(run, err);
      }
      // Not a figure the targets use: a failure only leaves the "Next.js alone" line out.
      if (run.subject.id === 'peer')
        await readBare(run.subject.url, agents.get(run) ?? false).then(
          (ms) => run.bare.push(ms),
          (err: unknown) => {
            run.bareFailures++;
            recordError(run, err);
          },
        );
    }
  }
  for (const a of agents.values()) a.destroy();
}

function figuresOf(run: Run, kinds: EndpointKinds): SubjectFigures {
  const logins = run.steps.total.length;
  const perLogin = (v: number) => (logins > 0 ? v / logins : Number.NaN);
  const perCounted = (v: number) => (run.countedLogins > 0 ? v / run.countedLogins : Number.NaN);
  const backChannel: Record<BackChannelKind, number> = {
    token: 0,
    userinfo: 0,
    jwks: 0,
    discovery: 0,
    other: 0,
  };
  let authorize = 0;
  for (const [key, n] of Object.entries(run.sequentialCounts)) {
    const kind = kinds.classify(key);
    if (kind === 'authorize') authorize += n;
    else backChannel[kind] += n;
  }
  const pid = run.child.process.pid ?? -1;
  const load = Object.fromEntries(
    CONCURRENCY_LEVELS.map((c) => [`${c}`, run.load[c]]),
  ) as SubjectFigures['load'];
  return {
    id: run.subject.id,
    url: run.subject.url.origin,
    coldStartMs: run.coldStartMs,
    firstSignInMs: run.firstSignInMs,
    sequential: {
      logins,
      failures: run.sequentialFailures,
      total: summarize(run.steps.total),
      login: summarize(run.steps.login),
      authorize: summarize(run.steps.authorize),
      callback: summarize(run.steps.callback),
      me: summarize(run.steps.me),
      rpCpuMsPerLogin: perLogin(run.sequentialRpCpuMs),
      providerCpuMsPerLogin: perLogin(run.sequentialOpCpuMs),
      backChannelPerLogin: Object.fromEntries(
        Object.entries(backChannel).map(([k, v]) => [k, perCounted(v)]),
      ) as Record<BackChannelKind, number>,
      authorizePerLogin: perCounted(authorize),
      redisCommandsPerLogin: run.redisPerLogin,
    },
    meSignedIn: {
      total: summarize(run.me),
      failures: run.meFailures,
      rpCpuMsPerRequest: run.me.length ? run.meRpCpuMs / run.me.length : Number.NaN,
      providerRequestsPerRead: run.providerRequestsPerRead,
      redisCommandsPerRead: run.redisPerRead,
    },
    signedOut: summarize(run.signedOut),
    signedOutFailures: run.signedOutFailures,
    ...(run.bare.length > 0 || run.bareFailures > 0
      ? { bare: summarize(run.bare), bareFailures: run.bareFailures }
      : {}),
    load,
    rssPeakMb: readGroupPeakRssMb(pid),
    rssAfterMb: readGroupRssMb(pid),
    firstErrors: run.errors,
  };
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8' }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

function peerVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync('bench/peer/node_modules/@auth0/nextjs-auth0/package.json', 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

/** Runs the benchmark; resolves to the exit status (1 when a subject could not be measured). */
async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('--machine')) {
    const { runMachineToMachine } = await import('./machine-to-machine');
    await runMachineToMachine();
    return 0;
  }
  const options = parseOptions(args);
  const size = SIZES[options.quick ? 'quick' : 'full'];
  const wanted = options.only ?? [
    ...ALL,
    ...(options.redis ? (['floor+redis', 'app+redis'] as const) : []),
    ...(options.baseline ? (['base'] as const) : []),
    ...(options.baseline && options.redis ? (['base+redis'] as const) : []),
  ];
  if ((wanted.includes('base') || wanted.includes('base+redis')) && !options.baseline)
    throw new Error('base needs --baseline DIR');
  // A subject that cannot be installed, built, started or signed in is reported and left out;
  // the others are still measured (and the run exits with a failure status).
  const notMeasured: NotMeasured[] = [];
  const fail = (id: SubjectId, stage: string, err: unknown) => {
    const message = (err as Error).message.slice(0, 600);
    notMeasured.push({ id, stage, message });
    console.error(`bench: ${id} is not measured (${stage} failed): ${message}`);
  };
  const prepare = (id: SubjectId, stage: string, step: () => void) => {
    try {
      step();
    } catch (err) {
      fail(id, stage, err);
    }
  };
  const baselineDir = options.baseline ? resolve(options.baseline) : undefined;
  const appIds = wanted.filter((id) => id === 'app' || id === 'app+redis');
  if (appIds.length > 0)
    prepare(appIds[0] ?? 'app', 'build', () => {
      try {
        ensureAppBuild();
      } catch (err) {
        for (const id of appIds.slice(1)) fail(id, 'build', err);
        throw err;
      }
    });
  const baseIds = wanted.filter((id) => id === 'base' || id === 'base+redis');
  if (baselineDir && baseIds.length > 0)
    prepare(baseIds[0] ?? 'base', 'build', () => {
      try {
        ensureAppBuild(baselineDir);
      } catch (err) {
        for (const id of baseIds.slice(1)) fail(id, 'build', err);
        throw err;
      }
    });
  if (wanted.includes('peer'))
    prepare('peer', 'install and build (npm ci and next build in bench/peer)', ensurePeerBuild);
  const ids = wanted.filter((id) => !notMeasured.some((n) => n.id === id));
  if (ids.length === 0) throw new Error('no subject left to measure');

  const dir = mkdtempSync(join(tmpdir(), 'rp-bench-'));
  const children: Child[] = [];
  const track = (child: Child) => void children.push(child);
  const stopAll = () => Promise.all(children.map((c) => stopChild(c)));
  // MUST: the servers run in process groups of their own (so that stopping one stops what it
  // forked), so Ctrl-C at the terminal does not reach them: stop them here, then exit.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench: ${signal}: stopping the servers it started…`);
    void stopAll()
      .catch(() => undefined)
      .finally(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const profileDir = resolve('bench/results/profiles');
  try {
    const material = await createMaterial(dir);
    let redisUrl: string | undefined;
    if (ids.some(usesRedis)) {
      redisUrl = (await startRedis(track)).url;
    }
    const issuer = new URL(`http://localhost:${await findFreePort()}`);
    if (options.cpuProf) mkdirSync(profileDir, { recursive: true });
    const subjects = await defineSubjects(ids, {
      issuer,
      material,
      redisUrl,
      appNodeOptions: options.cpuProf ? `--cpu-prof --cpu-prof-dir=${profileDir}` : undefined,
      baselineDir,
    });
    console.log(
      `Subjects: ${subjects.map((s) => `${s.id} ${s.url.origin}`).join(', ')}; provider ${issuer.origin}` +
        ` (${options.quick ? 'quick' : 'full'} run)`,
    );
    const provider = await startProvider(issuer, subjects, material, track);
    const kinds = await learnEndpoints(issuer);

    const machineStart = snapshotMachine();
    const driverStart = process.cpuUsage();
    const runs: Run[] = [];

    // 1. Cold starts, interleaved; the last start of each subject stays up for the rest.
    console.log('Cold starts…');
    for (let round = 0; round < size.coldStarts; round++) {
      for (const subject of rotate(subjects, round)) {
        if (notMeasured.some((n) => n.id === subject.id)) continue;
        let started: { child: Child; coldStartMs: number };
        let spawned: Child | undefined;
        try {
          started = await startCold(subject, (child) => {
            track(child);
            spawned = child;
          });
        } catch (err) {
          fail(subject.id, 'start', err);
          if (spawned) await stopChild(spawned);
          const gone = runs.findIndex((r) => r.subject === subject);
          if (gone >= 0) runs.splice(gone, 1);
          continue;
        }
        const { child, coldStartMs } = started;
        let run = runs.find((r) => r.subject === subject);
        if (!run) {
          run = {
            subject,
            child,
            coldStartMs: [],
            firstSignInMs: [],
            signedOut: [],
            signedOutFailures: 0,
            bare: [],
            bareFailures: 0,
            users: [],
            steps: { login: [], authorize: [], callback: [], me: [], total: [] },
            sequentialFailures: 0,
            sequentialRpCpuMs: 0,
            sequentialOpCpuMs: 0,
            sequentialCounts: {},
            countedLogins: 0,
            me: [],
            meFailures: 0,
            meRpCpuMs: 0,
            providerRequestsPerRead: Number.NaN,
            redisPerLogin: Number.NaN,
            redisPerRead: Number.NaN,
            load: {},
            errors: [],
          };
          runs.push(run);
        }
        run.coldStartMs.push(coldStartMs);
        // The first sign-in of a fresh process: its relying-party part (the provider's forms
        // apart) loads every module `GET /` did not need, routes included.
        try {
          const agents = { rp: createAgent(1), op: createAgent(1) };
          const t = await signInInteractively(subject.url, createVirtualUser(), agents, ACCOUNT);
          agents.rp.destroy();
          agents.op.destroy();
          run.firstSignInMs.push(t.login + t.callback + t.me);
        } catch (err) {
          recordError(run, err);
        }
        if (round < size.coldStarts - 1) await stopChild(child);
        else run.child = child;
      }
    }

    // 2. Users signed in at the provider once (forms), then warm-up sign-ins.
    console.log('Signing in the virtual users and warming up…');
    const maxUsers = Math.max(...CONCURRENCY_LEVELS);
    for (const run of [...runs]) {
      try {
        await prepareUsers(run, maxUsers, size.warmupLogins, provider);
      } catch (err) {
        fail(run.subject.id, 'sign-in and warm-up', err);
        runs.splice(runs.indexOf(run), 1);
        await stopChild(run.child);
      }
    }
    if (runs.length === 0) throw new Error('no subject could be measured');

    // 3. Requests per warm sign-in and per session read, at the provider (and Redis), subject by
    //    subject.
    console.log('Counting back-channel requests…');
    for (const run of runs) {
      const redis = run.subject.id.endsWith('+redis') ? redisUrl : undefined;
      await countRequests(run, size.counted, issuer, provider, redis);
    }

    // 4. Sequential sign-ins, interleaved one by one.
    console.log('Sequential sign-ins…');
    await runSequential(runs, size.sequential, provider);

    // 5. A signed-in user reading /api/me, interleaved request by request.
    console.log('Signed-in /api/me…');
    await runMe(runs, size.me);

    // 5b. The same route without a session: the stack's own cost per request.
    await runSignedOut(runs, size.me);

    // 6. Throughput at each concurrency, in slices that alternate between the subjects (so that a
    //    burst of other work on the machine does not land on one subject's whole phase).
    for (const [index, c] of CONCURRENCY_LEVELS.entries()) {
      console.log(`Sign-ins at concurrency ${c}…`);
      const totals = new Map(runs.map((r) => [r, [] as StepTimes[]]));
      const sums = new Map(
        runs.map((r) => [r, { failures: 0, wallMs: 0, rpCpuMs: 0, opCpuMs: 0 }]),
      );
      // Each relying party's CPU over the whole level (see runSequential), not per slice.
      const readers = new Map(
        runs.map((r) => [r, createGroupCpuReader(r.child.process.pid ?? -1)]),
      );
      const starts = new Map(runs.map((r) => [r, readers.get(r)?.() ?? Number.NaN]));
      const perSlice = Math.max(c, Math.ceil(size.load[c] / size.slices));
      for (let slice = 0; slice < size.slices; slice++) {
        for (const run of rotate(runs, index + slice)) {
          const outcome = await runLogins(run, c, perSlice, provider);
          totals.get(run)?.push(...outcome.totals);
          const sum = sums.get(run);
          if (!sum) continue;
          sum.failures += outcome.failures;
          sum.wallMs += outcome.wallMs;
          sum.opCpuMs += outcome.opCpuMs;
        }
      }
      for (const run of runs) {
        const sum = sums.get(run);
        if (sum)
          sum.rpCpuMs = (readers.get(run)?.() ?? Number.NaN) - (starts.get(run) ?? Number.NaN);
      }
      for (const run of runs) {
        const done = totals.get(run) ?? [];
        const sum = sums.get(run) ?? { failures: 0, wallMs: Number.NaN, rpCpuMs: 0, opCpuMs: 0 };
        const ok = done.length;
        run.load[c] = {
          logins: ok,
          failures: sum.failures,
          perSecond: (ok / sum.wallMs) * 1000,
          total: summarize(done.map((t) => t.total)),
          rpCpuMsPerLogin: ok ? sum.rpCpuMs / ok : Number.NaN,
          providerCpuMsPerLogin: ok ? sum.opCpuMs / ok : Number.NaN,
        };
      }
    }

    const driverCpu = process.cpuUsage(driverStart);
    const machineEnd = snapshotMachine();
    const figures = runs.map((run) => figuresOf(run, kinds));
    const groups = new Set(children.flatMap((c) => (c.process.pid ? [c.process.pid] : [])));
    const oursCpuMs = benchCpuMs(
      machineStart,
      machineEnd,
      groups,
      (driverCpu.user + driverCpu.system) / 1000,
    );
    const machine = describeMachine(
      machineStart,
      machineEnd,
      oursCpuMs,
      (p) => p.pid === process.pid || groups.has(p.pgrp),
    );

    console.log('Crypto floor…');
    const jwk = (JSON.parse(readFileSync(material.privateJwksFile, 'utf8')) as { keys: JWK[] })
      .keys[0];
    if (!jwk) throw new Error('no client key');
    const cryptoFloor = await measureCryptoFloor(jwk, size.crypto);

    const result: BenchResult = {
      startedAt: new Date(Date.now() - machine.seconds * 1000).toISOString(),
      mode: options.quick ? 'quick' : 'full',
      node: process.version,
      commit: gitCommit(),
      peerVersion: peerVersion(),
      subjects: figures,
      cryptoFloor,
      machine,
      driverCpuCores: (driverCpu.user + driverCpu.system) / 1e6 / machine.seconds,
      notMeasured,
    };
    const targets = checkTargets(result);
    console.log(
      `\nSign-in, side by side (${result.mode} run, commit ${result.commit}, Node ${result.node}, ` +
        `@auth0/nextjs-auth0 ${result.peerVersion}):\n`,
    );
    console.log(formatTable(result));
    console.log(`\n${formatMachine(result)}`);
    for (const n of notMeasured)
      console.log(
        `\nNOT MEASURED: ${n.id} (${n.stage} failed; its figures and ratios are missing): ${n.message}`,
      );
    console.log(`\nTargets (ratios of this run):\n${formatTargets(targets)}`);
    for (const f of figures) {
      if (f.firstErrors.length)
        console.log(`\n${f.id}: first errors:\n  ${f.firstErrors.join('\n  ')}`);
    }
    const jsonFile = resolve(
      options.json ?? `bench/results/${result.startedAt.replace(/[:.]/g, '-')}.json`,
    );
    mkdirSync(resolve(jsonFile, '..'), { recursive: true });
    writeFileSync(jsonFile, `${JSON.stringify({ ...result, targets }, null, 2)}\n`);
    console.log(`\nJSON: ${jsonFile}`);
    return notMeasured.length > 0 ? 1 : 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (status) => process.exit(status),
  (err: Error) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  },
);
