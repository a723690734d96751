import { ACCEPT_ENCODING } from './http';
import type { CryptoFloor } from './crypto-floor';
import type { MachineReport, Summary } from './measure';
import type { SubjectId } from './stack';

/** What one run measured, per relying party, and how it is printed and judged. */

export const CONCURRENCY_LEVELS = [1, 8, 32] as const;
export type Concurrency = (typeof CONCURRENCY_LEVELS)[number];

export type BackChannelKind = 'token' | 'userinfo' | 'jwks' | 'discovery' | 'other';

export type LoadFigures = {
  readonly logins: number;
  readonly failures: number;
  readonly perSecond: number;
  readonly total: Summary;
  readonly rpCpuMsPerLogin: number;
  readonly providerCpuMsPerLogin: number;
};

export type SubjectFigures = {
  readonly id: SubjectId;
  readonly url: string;
  readonly coldStartMs: readonly number[];
  /**
   * The relying party's part (`/auth/login`, `/auth/callback`, `/api/me`) of the first sign-in
   * after each cold start; optional in results written before it was measured.
   */
  readonly firstSignInMs?: readonly number[] | undefined;
  readonly sequential: {
    readonly logins: number;
    readonly failures: number;
    readonly total: Summary;
    readonly login: Summary;
    readonly authorize: Summary;
    readonly callback: Summary;
    readonly me: Summary;
    readonly rpCpuMsPerLogin: number;
    readonly providerCpuMsPerLogin: number;
    /** Requests the provider received per warm login, by endpoint (front channel apart). */
    readonly backChannelPerLogin: Record<BackChannelKind, number>;
    readonly authorizePerLogin: number;
    /** Redis commands per warm login (NaN without REDIS_URL). */
    readonly redisCommandsPerLogin: number;
  };
  readonly meSignedIn: {
    readonly total: Summary;
    readonly failures: number;
    readonly rpCpuMsPerRequest: number;
    /** Provider requests per session read: must be 0. */
    readonly providerRequestsPerRead: number;
    /** Redis commands per session read (NaN without REDIS_URL). */
    readonly redisCommandsPerRead: number;
  };
  /**
   * `GET /api/me` without a session (401): the stack's own cost per request; optional in results
   * written before it was measured.
   */
  readonly signedOut?: Summary | undefined;
  readonly signedOutFailures?: number | undefined;
  /** The peer only: `GET /bare`, an empty route handler outside the proxy (Next.js alone). */
  readonly bare?: Summary | undefined;
  readonly bareFailures?: number | undefined;
  readonly load: Record<`${Concurrency}`, LoadFigures>;
  readonly rssPeakMb: number;
  readonly rssAfterMb: number;
  readonly firstErrors: readonly string[];
};

export type BenchResult = {
  readonly startedAt: string;
  readonly mode: 'quick' | 'full';
  readonly node: string;
  readonly commit: string;
  readonly peerVersion: string;
  readonly subjects: readonly SubjectFigures[];
  readonly cryptoFloor: CryptoFloor;
  readonly machine: MachineReport;
  readonly driverCpuCores: number;
  /** Subjects that could not be installed, built, started or signed in, and why. */
  readonly notMeasured: readonly NotMeasured[];
};

export type NotMeasured = {
  readonly id: SubjectId;
  readonly stage: string;
  readonly message: string;
};

export type Target = {
  readonly subject: SubjectId;
  readonly name: string;
  readonly value: string;
  readonly ok: boolean;
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function coldStart(s: SubjectFigures): number {
  return median(s.coldStartMs);
}

type Row = {
  readonly label: string;
  readonly value: (s: SubjectFigures) => number;
  readonly digits?: number;
  /** Shown after the value, e.g. failures. */
  readonly note?: (s: SubjectFigures) => string;
  /** No ratio column (counts, where a ratio means nothing). */
  readonly noRatio?: boolean;
};

const ROWS: readonly Row[] = [
  // Percentiles are of the requests that succeeded: the failures stand beside them, so that a
  // subject failing often cannot look fast.
  {
    label: 'login round trip p50, ms (failures)',
    value: (s) => s.sequential.total.p50,
    note: (s) => ` (${s.sequential.failures})`,
  },
  { label: 'login round trip p95, ms', value: (s) => s.sequential.total.p95 },
  { label: '/auth/callback p50, ms', value: (s) => s.sequential.callback.p50 },
  { label: '/auth/callback p95, ms', value: (s) => s.sequential.callback.p95 },
  { label: 'step /auth/login p50, ms', value: (s) => s.sequential.login.p50 },
  { label: 'step authorize (provider) p50, ms', value: (s) => s.sequential.authorize.p50 },
  { label: 'step /api/me p50, ms', value: (s) => s.sequential.me.p50 },
  {
    label: '/api/me signed in p50, ms (failures)',
    value: (s) => s.meSignedIn.total.p50,
    note: (s) => ` (${s.meSignedIn.failures})`,
  },
  { label: '/api/me signed in p95, ms', value: (s) => s.meSignedIn.total.p95 },
  {
    label: '/api/me signed out (401) p50, ms (failures)',
    value: (s) => s.signedOut?.p50 ?? Number.NaN,
    note: (s) => ` (${s.signedOutFailures ?? 0})`,
  },
  ...[1, 8, 32].map((c): Row => ({
    label: `logins/s at concurrency ${c} (failures)`,
    value: (s) => s.load[`${c as Concurrency}`].perSecond,
    digits: 1,
    note: (s) => ` (${s.load[`${c as Concurrency}`].failures})`,
  })),
  {
    label: 'login p50 at concurrency 32, ms',
    value: (s) => s.load['32'].total.p50,
  },
  { label: 'RP CPU per login, sequential, ms', value: (s) => s.sequential.rpCpuMsPerLogin },
  { label: 'RP CPU per login at 32, ms', value: (s) => s.load['32'].rpCpuMsPerLogin },
  { label: 'RP CPU per /api/me, ms', value: (s) => s.meSignedIn.rpCpuMsPerRequest, digits: 2 },
  {
    label: 'provider CPU per login (apart), ms',
    value: (s) => s.sequential.providerCpuMsPerLogin,
  },
  {
    label: 'provider CPU per login at 32 (apart), ms',
    value: (s) => s.load['32'].providerCpuMsPerLogin,
  },
  ...(['token', 'userinfo', 'jwks', 'discovery', 'other'] as const).map((kind): Row => ({
    label: `back-channel per warm login: ${kind}`,
    value: (s) => s.sequential.backChannelPerLogin[kind],
    digits: 2,
    noRatio: true,
  })),
  {
    label: 'provider requests per session read',
    value: (s) => s.meSignedIn.providerRequestsPerRead,
    digits: 2,
    noRatio: true,
  },
  {
    label: 'Redis commands per login / per read',
    value: (s) => s.sequential.redisCommandsPerLogin,
    digits: 1,
    note: (s) =>
      Number.isFinite(s.meSignedIn.redisCommandsPerRead)
        ? ` / ${s.meSignedIn.redisCommandsPerRead.toFixed(1)}`
        : '',
    noRatio: true,
  },
  { label: 'RSS peak, MB', value: (s) => s.rssPeakMb, digits: 0 },
  { label: 'cold start to first 200, ms', value: coldStart, digits: 0 },
  {
    label: 'first sign-in after start (RP part), ms',
    value: (s) => median(s.firstSignInMs ?? []),
    digits: 0,
  },
];

function format(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return '–';
  return value.toFixed(digits);
}

/** The relying parties under test (this app and its baseline), not the references. */
function isAppVariant(id: SubjectId): boolean {
  return id !== 'floor' && id !== 'floor+redis' && id !== 'peer';
}

function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

function pad(cells: readonly string[], widths: readonly number[]): string {
  return `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
}

/** The side-by-side table (Markdown), with ratios of each app variant to the peer and the floor. */
export function formatTable(result: BenchResult): string {
  const byId = new Map(result.subjects.map((s) => [s.id, s]));
  const order = (
    ['floor', 'floor+redis', 'peer', 'base', 'app', 'base+redis', 'app+redis'] as const
  ).filter((id) => byId.has(id));
  const apps = order.filter(isAppVariant);
  const peer = byId.get('peer');
  const floor = byId.get('floor');
  // app+redis is also set beside the floor that keeps its sessions in Redis the same way.
  const floorRedis = byId.get('floor+redis');
  // Each app variant beside the baseline with the same store (app+redis beside base+redis).
  const baseOf = (id: SubjectId) =>
    id === 'app' ? byId.get('base') : id === 'app+redis' ? byId.get('base+redis') : undefined;
  const ratioColumns = apps.flatMap((id) => {
    const base = baseOf(id);
    return [
      ...(peer ? [{ title: `${id} / peer`, of: id, to: peer }] : []),
      ...(floor ? [{ title: `${id} / floor`, of: id, to: floor }] : []),
      ...(floorRedis && id === 'app+redis'
        ? [{ title: `${id} / floor+redis`, of: id, to: floorRedis }]
        : []),
      ...(base ? [{ title: `${id} / ${base.id}`, of: id, to: base }] : []),
    ];
  });
  const header = ['figure', ...order, ...ratioColumns.map((c) => c.title)];
  // Rows no subject has a figure for (Redis without --redis) are left out.
  const shown = ROWS.filter((row) =>
    order.some((id) => {
      const s = byId.get(id);
      return s !== undefined && Number.isFinite(row.value(s));
    }),
  );
  const rows = shown.map((row) => [
    row.label,
    ...order.map((id) => {
      const s = byId.get(id);
      return s ? `${format(row.value(s), row.digits)}${row.note?.(s) ?? ''}` : '–';
    }),
    ...ratioColumns.map((c) => {
      const s = byId.get(c.of);
      return s && !row.noRatio ? ratio(row.value(s), row.value(c.to)) : '';
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const lines = [
    pad(header, widths),
    `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`,
    ...rows.map((r) => pad(r, widths)),
  ];
  const crypto = result.cryptoFloor;
  lines.push(
    '',
    `Crypto floor of one sign-in: ${crypto.signInMs.toFixed(2)} ms p50 (RS256 assertion ` +
      `${crypto.assertionSign.p50.toFixed(2)} + ID-token check ${crypto.idTokenVerify.p50.toFixed(2)} + ` +
      `seal ${crypto.seal.p50.toFixed(2)}); an unseal ${crypto.unseal.p50.toFixed(2)} ms.`,
    `Every request asks for compressed bodies as a browser does (Accept-Encoding: ${ACCEPT_ENCODING}).`,
    // Said on every run: the ratios to the floor depend on it (README, Performance).
    'The floor opens every cookie it reads with iron-session (an unseal each); the app answers ' +
      'those it sealed itself from lib/seal-cache.ts, without crypto.',
  );
  const stack = describeStackCost(result.subjects);
  if (stack) lines.push(stack);
  return lines.join('\n');
}

/**
 * What the stack alone costs a sign-in, from the signed-out `/api/me` (a request with no session
 * work): a sign-in is three requests to the relying party (`/auth/login`, `/auth/callback`,
 * `/api/me`), so each subject's cost per request above the floor's, times three, is time the
 * protocol work cannot win back. Set beside the room the "≤ 0.7× the peer" target leaves above
 * the floor.
 */
export function describeStackCost(subjects: readonly SubjectFigures[]): string | undefined {
  const byId = new Map(subjects.map((s) => [s.id, s]));
  const floor = byId.get('floor');
  const peer = byId.get('peer');
  const base = floor?.signedOut?.p50;
  if (!floor || base === undefined || !Number.isFinite(base)) return undefined;
  const parts = subjects
    .filter((s) => isAppVariant(s.id) || s.id === 'peer')
    .filter((s) => Number.isFinite(s.signedOut?.p50 ?? Number.NaN))
    .map((s) => {
      const over = ((s.signedOut?.p50 ?? 0) - base) * 3;
      return `${s.id} ${(s.signedOut?.p50 ?? 0).toFixed(2)} ms (×3: ${over.toFixed(1)} ms over the floor)`;
    });
  if (parts.length === 0) return undefined;
  const room = peer ? 0.7 * peer.sequential.total.p50 - floor.sequential.total.p50 : Number.NaN;
  const bare = peer?.bare?.p50;
  // The framework's share, apart from any relying party's code: the least any Next.js app pays.
  // Left out when any of its requests failed (their errors are among the peer's first errors).
  const alone =
    bare !== undefined && Number.isFinite(bare) && (peer?.bareFailures ?? 0) === 0
      ? ` Next.js alone (an empty route handler in the peer's build, no proxy): ` +
        `${bare.toFixed(2)} ms (×3: ${((bare - base) * 3).toFixed(1)} ms over the floor).`
      : '';
  return (
    `Stack cost per request (signed-out /api/me p50): floor ${base.toFixed(2)} ms, ${parts.join(', ')}.` +
    alone +
    (Number.isFinite(room)
      ? ` Room above the floor for "login ≤ 0.7× peer": ${room.toFixed(1)} ms.`
      : '')
  );
}

/** How busy the machine was. */
export function formatMachine(result: BenchResult): string {
  const m = result.machine;
  const load = (l: readonly number[]) => l.map((v) => v.toFixed(2)).join(' / ');
  const others = m.topOthers
    .map((p) => `${p.command} (pid ${p.pid}) ${p.cpuSeconds.toFixed(1)} s`)
    .join(', ');
  return [
    `Machine: ${m.cores} cores, ${m.seconds.toFixed(0)} s measured; load average (1/5/15 min) ` +
      `${load(m.loadAtStart)} at start, ${load(m.loadAtEnd)} at end.`,
    `CPU in use on average: ${m.busyCores.toFixed(2)} cores — this benchmark ${m.benchCores.toFixed(2)} ` +
      `(its load generator ${result.driverCpuCores.toFixed(2)}), other processes ${m.otherCores.toFixed(2)}` +
      `${others ? ` (most: ${others})` : ''}.`,
  ].join('\n');
}

/** The issue's targets, judged on this run's ratios (for every app variant measured). */
export function checkTargets(result: BenchResult): Target[] {
  const byId = new Map(result.subjects.map((s) => [s.id, s]));
  const peer = byId.get('peer');
  const floor = byId.get('floor');
  const out: Target[] = [];
  const floorRedis = byId.get('floor+redis');
  for (const app of result.subjects.filter((s) => isAppVariant(s.id))) {
    const add = (
      name: string,
      a: number,
      b: number,
      limit: number,
      atMost: boolean,
      beside = '',
    ) => {
      const r = a / b;
      out.push({
        subject: app.id,
        name,
        value: `${r.toFixed(2)}× (${a.toFixed(1)} vs ${b.toFixed(1)})${beside}`,
        ok: Number.isFinite(r) && (atMost ? r <= limit : r >= limit),
      });
    };
    // Beside a target against the peer, what the floor itself reaches there (and, for app+redis,
    // the floor with Redis): a target the floor misses too, with no framework, is out of reach for
    // any Next.js app; one it meets by a small margin leaves a framework little room.
    const floors = [floor, app.id === 'app+redis' ? floorRedis : undefined].filter(
      (f): f is SubjectFigures => f !== undefined,
    );
    const besidePeer = (figure: (s: SubjectFigures) => number) =>
      peer && floors.length > 0
        ? `; ${floors
            .map(
              (f) =>
                `the ${f.id === 'floor' ? 'floor' : 'floor with Redis'}: ${(figure(f) / figure(peer)).toFixed(2)}×`,
            )
            .join(', ')}`
        : '';
    // A reference that could not be measured leaves its targets unmet, not silently dropped.
    // The floor with Redis is app+redis's reference only (its targets beside it, below).
    const references = (id: SubjectId) =>
      id === 'peer' || id === 'floor' || (id === 'floor+redis' && app.id === 'app+redis');
    for (const missing of result.notMeasured.filter((n) => references(n.id)))
      out.push({
        subject: app.id,
        name: `the targets against the ${missing.id}`,
        value: `${missing.id} not measured (${missing.stage} failed)`,
        ok: false,
      });
    if (peer) {
      add(
        'login round trip p50 ≤ 0.7× peer',
        app.sequential.total.p50,
        peer.sequential.total.p50,
        0.7,
        true,
        besidePeer((s) => s.sequential.total.p50),
      );
      add(
        'RP CPU per login (sequential) ≤ 0.5× peer',
        app.sequential.rpCpuMsPerLogin,
        peer.sequential.rpCpuMsPerLogin,
        0.5,
        true,
        besidePeer((s) => s.sequential.rpCpuMsPerLogin),
      );
      add(
        'logins/s at 32 ≥ 2× peer',
        app.load['32'].perSecond,
        peer.load['32'].perSecond,
        2,
        false,
        besidePeer((s) => s.load['32'].perSecond),
      );
      add('RSS peak ≤ peer', app.rssPeakMb, peer.rssPeakMb, 1, true);
      add('cold start ≤ peer', coldStart(app), coldStart(peer), 1, true);
    }
    // The two targets against a floor. Beside the floor with Redis (app+redis only) they are not
    // the issue's targets: the same ratios against a floor that does the same store work (its
    // round trips to Redis), to tell the framework's share from the store's.
    const addFloorTargets = (reference: SubjectFigures, prefix: string) => {
      add(
        `${prefix}login round trip p50 ≤ 1.5× ${reference.id}`,
        app.sequential.total.p50,
        reference.sequential.total.p50,
        1.5,
        true,
      );
      add(
        `${prefix}/api/me signed in p50 ≤ 2× ${reference.id}`,
        app.meSignedIn.total.p50,
        reference.meSignedIn.total.p50,
        2,
        true,
      );
    };
    if (floor) addFloorTargets(floor, '');
    if (floorRedis && app.id === 'app+redis')
      addFloorTargets(floorRedis, 'beside the floor with Redis: ');
    const failures = (['1', '8', '32'] as const).reduce((n, c) => n + app.load[c].failures, 0);
    out.push({
      subject: app.id,
      name: '0 failures under load',
      value: `${failures} failures + ${app.sequential.failures} sequential`,
      ok: failures === 0 && app.sequential.failures === 0,
    });
    const b = app.sequential.backChannelPerLogin;
    out.push({
      subject: app.id,
      name: 'one token request + UserInfo per warm sign-in, nothing else',
      value: (['token', 'userinfo', 'jwks', 'discovery', 'other'] as const)
        .map((kind) => `${kind} ${b[kind].toFixed(2)}`)
        .join(', '),
      ok: b.token === 1 && b.userinfo === 1 && b.jwks === 0 && b.discovery === 0 && b.other === 0,
    });
    out.push({
      subject: app.id,
      name: 'no provider request to read a session',
      value: `${app.meSignedIn.providerRequestsPerRead.toFixed(2)} per /api/me`,
      ok: app.meSignedIn.providerRequestsPerRead === 0,
    });
  }
  return out;
}

export function formatTargets(targets: readonly Target[]): string {
  // As wide as the longest subject id (base+redis), so that every target's name starts in one column.
  const width = Math.max(0, ...targets.map((t) => t.subject.length));
  return targets
    .map(
      (t) => `  ${t.ok ? 'met    ' : 'NOT met'}  ${t.subject.padEnd(width)} ${t.name}: ${t.value}`,
    )
    .join('\n');
}
