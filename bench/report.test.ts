import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Summary } from './measure';
import {
  checkTargets,
  describeStackCost,
  formatTable,
  formatTargets,
  type BenchResult,
  type LoadFigures,
  type SubjectFigures,
} from './report';
import type { SubjectId } from './stack';

function summary(p50: number): Summary {
  return { n: 10, p50, p95: p50 * 2, mean: p50, min: p50, max: p50 * 3 };
}

function load(perSecond: number, failures = 0): LoadFigures {
  return {
    logins: 100,
    failures,
    perSecond,
    total: summary(100),
    rpCpuMsPerLogin: 5,
    providerCpuMsPerLogin: 4,
  };
}

function subject(id: SubjectId, f: { login: number; cpu: number; rate: number; me: number }) {
  const figures: SubjectFigures = {
    id,
    url: 'http://localhost:1',
    coldStartMs: [500, 700, 600],
    firstSignInMs: [90, 30, 40],
    signedOut: summary(0.5),
    sequential: {
      logins: 50,
      failures: 0,
      total: summary(f.login),
      login: summary(1),
      authorize: summary(1),
      callback: summary(f.login / 2),
      me: summary(f.me),
      rpCpuMsPerLogin: f.cpu,
      providerCpuMsPerLogin: 4,
      backChannelPerLogin: {
        token: 1,
        userinfo: id === 'peer' ? 0 : 1,
        jwks: 0,
        discovery: 0,
        other: 0,
      },
      authorizePerLogin: 1,
      redisCommandsPerLogin: Number.NaN,
    },
    meSignedIn: {
      total: summary(f.me),
      failures: 0,
      rpCpuMsPerRequest: 1,
      providerRequestsPerRead: 0,
      redisCommandsPerRead: Number.NaN,
    },
    load: { '1': load(f.rate / 4), '8': load(f.rate / 2), '32': load(f.rate) },
    rssPeakMb: 200,
    rssAfterMb: 150,
    firstErrors: [],
  };
  return figures;
}

const floor = subject('floor', { login: 10, cpu: 6, rate: 400, me: 1 });
const peer = subject('peer', { login: 20, cpu: 20, rate: 100, me: 7 });

function result(app: SubjectFigures): BenchResult {
  const stat = summary(0.5);
  return {
    startedAt: '2026-11-30T00:00:00.000Z',
    mode: 'quick',
    node: 'v24',
    commit: 'abc',
    peerVersion: '4.30.0',
    subjects: [floor, peer, app],
    cryptoFloor: {
      assertionSign: stat,
      idTokenVerify: stat,
      seal: stat,
      unseal: stat,
      signInMs: 1.5,
    },
    machine: {
      cores: 2,
      seconds: 30,
      loadAtStart: [1, 1, 1],
      loadAtEnd: [1, 1, 1],
      busyCores: 1,
      benchCores: 0.8,
      otherCores: 0.2,
      topOthers: [],
    },
    driverCpuCores: 0.1,
    notMeasured: [],
  };
}

/** The cells of the table's first line that starts with `start`, trimmed. */
function readCells(table: string, start: string): string[] {
  return (table.split('\n').find((l) => l.startsWith(start)) ?? '').split('|').map((c) => c.trim());
}

describe('checkTargets', () => {
  it('meets every target when the app is that much better than the peer and close to the floor', () => {
    const app = subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 });
    const targets = checkTargets(result(app));
    assert.ok(targets.length >= 10);
    assert.deepEqual(
      targets.filter((t) => !t.ok).map((t) => t.name),
      [],
    );
  });

  it('names each target missed', () => {
    const app = subject('app', { login: 16, cpu: 12, rate: 150, me: 3 });
    const missed = checkTargets(result(app))
      .filter((t) => !t.ok)
      .map((t) => t.name);
    assert.deepEqual(missed, [
      'login round trip p50 ≤ 0.7× peer',
      'RP CPU per login (sequential) ≤ 0.5× peer',
      'logins/s at 32 ≥ 2× peer',
      'login round trip p50 ≤ 1.5× floor',
      '/api/me signed in p50 ≤ 2× floor',
    ]);
  });

  it('says beside each target against the peer what the floor itself reaches there', () => {
    const app = subject('app', { login: 16, cpu: 12, rate: 150, me: 3 });
    const values = new Map(checkTargets(result(app)).map((t) => [t.name, t.value]));
    // floor: login 10, CPU 6, 400 logins/s; peer: 20, 20, 100.
    assert.equal(
      values.get('login round trip p50 ≤ 0.7× peer'),
      '0.80× (16.0 vs 20.0); the floor: 0.50×',
    );
    assert.equal(
      values.get('RP CPU per login (sequential) ≤ 0.5× peer'),
      '0.60× (12.0 vs 20.0); the floor: 0.30×',
    );
    assert.equal(
      values.get('logins/s at 32 ≥ 2× peer'),
      '1.50× (150.0 vs 100.0); the floor: 4.00×',
    );
    assert.equal(values.get('RSS peak ≤ peer'), '1.00× (200.0 vs 200.0)');
  });

  it('sets app+redis beside the floor with Redis there, when it was measured', () => {
    const appRedis = subject('app+redis', { login: 16, cpu: 12, rate: 150, me: 3 });
    const floorRedis = subject('floor+redis', { login: 15, cpu: 7, rate: 300, me: 1.2 });
    const run = { ...result(appRedis), subjects: [floor, floorRedis, peer, appRedis] };
    const values = new Map(
      checkTargets(run)
        .filter((t) => t.subject === 'app+redis')
        .map((t) => [t.name, t.value]),
    );
    assert.equal(
      values.get('login round trip p50 ≤ 0.7× peer'),
      '0.80× (16.0 vs 20.0); the floor: 0.50×, the floor with Redis: 0.75×',
    );
  });

  it('refuses extra back-channel requests and failures under load', () => {
    const app = subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 });
    const noisy: SubjectFigures = {
      ...app,
      sequential: {
        ...app.sequential,
        backChannelPerLogin: { ...app.sequential.backChannelPerLogin, jwks: 1 },
      },
      load: { ...app.load, '32': load(250, 3) },
    };
    const missed = checkTargets(result(noisy)).filter((t) => !t.ok);
    assert.equal(missed.length, 2);
  });
});

describe('checkTargets, a reference not measured', () => {
  it('does not drop the targets against the peer silently when the peer could not be measured', () => {
    const app = subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 });
    const full = result(app);
    const withoutPeer: BenchResult = {
      ...full,
      subjects: full.subjects.filter((s) => s.id !== 'peer'),
      notMeasured: [{ id: 'peer', stage: 'install', message: 'npm ci: ENOTFOUND' }],
    };
    const missed = checkTargets(withoutPeer).filter((t) => !t.ok);
    assert.equal(missed.length, 1);
    assert.match(missed[0]?.name ?? '', /peer/);
    assert.match(missed[0]?.value ?? '', /not measured.*install/);
  });
});

describe('checkTargets, the floor with Redis not measured', () => {
  it("leaves app+redis's targets beside it unmet, not dropped, and the app's alone", () => {
    const app = subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 });
    const full = result(app);
    const withoutFloorRedis: BenchResult = {
      ...full,
      subjects: [...full.subjects, subject('app+redis', { login: 14, cpu: 9, rate: 250, me: 1.5 })],
      notMeasured: [{ id: 'floor+redis', stage: 'start', message: 'exited with status 1' }],
    };
    const targets = checkTargets(withoutFloorRedis);
    const missed = targets.filter((t) => !t.ok);
    assert.equal(missed.length, 1);
    assert.equal(missed[0]?.subject, 'app+redis');
    assert.match(missed[0]?.name ?? '', /floor\+redis/);
    assert.match(missed[0]?.value ?? '', /not measured.*start/);
    assert.ok(!targets.some((t) => t.subject === 'app' && t.name.includes('floor+redis')));
  });
});

describe('describeStackCost', () => {
  const withStack = (id: SubjectId, login: number, signedOut: number): SubjectFigures => ({
    ...subject(id, { login, cpu: 1, rate: 1, me: 1 }),
    signedOut: summary(signedOut),
  });

  it('puts three requests of each subject above the floor beside the room the target leaves', () => {
    const line = describeStackCost([
      withStack('floor', 8, 0.3),
      withStack('peer', 12, 1.2),
      withStack('app', 11, 1.1),
    ]);
    assert.equal(
      line,
      'Stack cost per request (signed-out /api/me p50): floor 0.30 ms, ' +
        'peer 1.20 ms (×3: 2.7 ms over the floor), app 1.10 ms (×3: 2.4 ms over the floor). ' +
        'Room above the floor for "login ≤ 0.7× peer": 0.4 ms.',
    );
    assert.equal(describeStackCost([withStack('app', 11, 1.1)]), undefined, 'no floor, no line');
  });

  it("adds Next.js alone, from the peer's empty route handler, when it was measured", () => {
    const peer = { ...withStack('peer', 12, 1.2), bare: summary(0.9) };
    assert.match(
      describeStackCost([withStack('floor', 8, 0.3), peer]) ?? '',
      /Next\.js alone \(an empty route handler in the peer's build, no proxy\): 0\.90 ms \(×3: 1\.8 ms over the floor\)\./,
    );
  });

  it('leaves Next.js alone out when one of its requests failed', () => {
    const peer = { ...withStack('peer', 12, 1.2), bare: summary(0.9), bareFailures: 3 };
    const line = describeStackCost([withStack('floor', 8, 0.3), peer]) ?? '';
    assert.match(line, /peer 1\.20 ms/);
    assert.doesNotMatch(line, /Next\.js alone/);
  });
});

describe('formatTable', () => {
  it('prints every subject, the ratios to the peer and the floor, and the crypto floor', () => {
    const app = subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 });
    const table = formatTable(result(app));
    const header = table.split('\n')[0] ?? '';
    assert.match(header, /floor.*peer.*app.*app \/ peer.*app \/ floor/);
    assert.match(
      table,
      /login round trip p50, ms \(failures\)\s*\|\s*10\.0 \(0\) \|\s*20\.0 \(0\) \|\s*14\.0 \(0\) \|\s*0\.70× \|\s*1\.40×/,
    );
    assert.match(table, /cold start to first 200, ms\s*\|\s*600 \|/);
    assert.match(table, /\/api\/me signed out \(401\) p50, ms \(failures\)\s*\|\s*0\.5 \(0\) \|/);
    assert.match(table, /Stack cost per request \(signed-out \/api\/me p50\): floor 0\.50 ms/);
    assert.match(table, /first sign-in after start \(RP part\), ms\s*\|\s*40 \|/);
    assert.match(table, /provider CPU per login at 32 \(apart\), ms\s*\|\s*4\.0 \|/);
    assert.doesNotMatch(table, /Redis/);
    assert.match(table, /Crypto floor of one sign-in: 1\.50 ms/);
    assert.match(table, /as a browser does \(Accept-Encoding: gzip, deflate, br, zstd\)/);
  });

  it('sets each app variant beside the baseline with the same store', () => {
    const table = formatTable({
      ...result(subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 })),
      subjects: [
        subject('floor', { login: 10, cpu: 5, rate: 400, me: 1 }),
        subject('base', { login: 16, cpu: 9, rate: 250, me: 1.5 }),
        subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 }),
        subject('base+redis', { login: 20, cpu: 9, rate: 250, me: 1.5 }),
        subject('app+redis', { login: 15, cpu: 9, rate: 250, me: 1.5 }),
      ],
    });
    const header = readCells(table, '| figure');
    assert.ok(header.includes('app / base'));
    assert.ok(header.includes('app+redis / base+redis'));
    assert.ok(!header.includes('app+redis / base'), 'never across stores');
    const login = readCells(table, '| login round trip p50');
    assert.equal(login[header.indexOf('app / base')], '0.88×');
    assert.equal(login[header.indexOf('app+redis / base+redis')], '0.75×');
  });
});

describe('the floor with Redis', () => {
  const withRedis = (): BenchResult => ({
    ...result(subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 })),
    subjects: [
      floor,
      subject('floor+redis', { login: 12, cpu: 7, rate: 350, me: 1.2 }),
      peer,
      subject('app', { login: 14, cpu: 9, rate: 250, me: 1.5 }),
      subject('app+redis', { login: 17, cpu: 10, rate: 240, me: 2.2 }),
    ],
  });

  it('sets app+redis beside it, and only app+redis', () => {
    const table = formatTable(withRedis());
    const header = readCells(table, '| figure');
    assert.ok(header.includes('floor+redis'), 'its own column of figures');
    assert.ok(header.includes('app+redis / floor+redis'));
    assert.ok(!header.includes('app / floor+redis'), 'never across stores');
    assert.ok(!header.some((h) => h.startsWith('floor+redis /')), 'a reference, not a subject');
    const login = readCells(table, '| login round trip p50');
    assert.equal(login[header.indexOf('app+redis / floor+redis')], '1.42×');
    assert.equal(login[header.indexOf('app+redis / floor')], '1.70×');
  });

  it("keeps the issue's targets against the floor and adds the same ratios beside it", () => {
    const targets = checkTargets(withRedis());
    assert.ok(!targets.some((t) => t.subject === 'floor+redis'), 'no targets of its own');
    const of = (name: string) => targets.find((t) => t.subject === 'app+redis' && t.name === name);
    assert.equal(of('login round trip p50 ≤ 1.5× floor')?.ok, false, '17 vs 10');
    assert.equal(
      of('beside the floor with Redis: login round trip p50 ≤ 1.5× floor+redis')?.ok,
      true,
      '17 vs 12',
    );
    assert.equal(
      of('beside the floor with Redis: /api/me signed in p50 ≤ 2× floor+redis')?.value,
      '1.83× (2.2 vs 1.2)',
    );
    assert.ok(
      !targets.some((t) => t.subject === 'app' && t.name.includes('floor+redis')),
      'the app without Redis is set beside the floor without',
    );
  });
});

describe('formatTargets', () => {
  it('starts every target name in one column, base+redis included', () => {
    const lines = formatTargets([
      { subject: 'app', name: 'cold start ≤ peer', value: '0.9×', ok: true },
      { subject: 'base+redis', name: 'cold start ≤ peer', value: '1.1×', ok: false },
      { subject: 'app+redis', name: 'cold start ≤ peer', value: '1.0×', ok: true },
    ]).split('\n');
    const columns = new Set(lines.map((l) => l.indexOf('cold start')));
    assert.equal(columns.size, 1, lines.join('\n'));
  });
});
