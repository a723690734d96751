import { readFileSync } from 'node:fs';

import { HttpAgent } from '../e2e/support/http-agent';
import { prepareKeyMaterial, RS256_KEY, SESSION_SECRET_FILE } from '../e2e/support/material';
import { startRedisServer } from '../e2e/support/redis-server';
import { startSessionStack, type SessionStack } from '../e2e/support/session-stack';
import { driveSignIn } from '../provider/drive-sign-in';
import { createRedisSessionStore } from '../lib/redis-session-store';
import { buildSessionRecord } from '../lib/session-data';
import { createSessionId } from '../lib/session-store';
import { completeSignIn, startSignIn } from '../lib/sign-in';
import { refreshUserApiToken } from '../lib/token-refresh';

/**
 * `npm run bench:sessions` — figures for server-side sessions, against real parts: a
 * redis-server, the bundled provider and the production build of the app (one instance with
 * sessions in memory, one with Redis), all on free loopback ports, stopped at the end.
 *
 * 1. Reading a session per request: `GET /api/me` over HTTP (cookie unsealed, record read),
 *    memory against Redis; and the Redis read alone, in-process.
 * 2. The refresh grant's round trip (client assertion signed, token request, rotation).
 * 3. What a warm sign-in costs at the provider: its back-channel requests.
 *
 * BENCH_REQUESTS (1000) sets the number of requests of 1.
 */

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
const REFRESHES = 100;

function pickPercentile(sorted: readonly number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ??
    NaN
  );
}

function summarize(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const f = (v: number) => (v < 1 ? `${(v * 1000).toFixed(0)} µs` : `${v.toFixed(2)} ms`);
  const [p50, p95, p99] = [50, 95, 99].map((p) => f(pickPercentile(sorted, p)));
  return `p50 ${p50}  p95 ${p95}  p99 ${p99}  (n=${sorted.length})`;
}

async function time(n: number, fn: () => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples;
}

/** Signs alice in at `appUrl` over plain HTTP; returns the agent holding the session cookie. */
async function signInOverHttp(stack: SessionStack, appUrl: string): Promise<HttpAgent> {
  const agent = new HttpAgent();
  const login = await agent.request(`${appUrl}/auth/login?returnTo=/profile`);
  if (!login.location?.startsWith(stack.issuer)) throw new Error(`login answered ${login.status}`);
  const callback = await driveSignIn(new URL(login.location), {
    login: 'alice',
    password: 'alice-password',
    redirectUri: `${appUrl}/auth/callback`,
  });
  const landed = await agent.request(callback.href);
  if (landed.status !== 303 || agent.cookie('rp_session') === undefined)
    throw new Error(`callback answered ${landed.status} ${landed.location ?? ''}`);
  return agent;
}

async function main(): Promise<void> {
  await prepareKeyMaterial();
  const redis = await startRedisServer();
  const stacks: SessionStack[] = [];
  const say = console.log;
  try {
    const memory = await startSessionStack({ instances: 1 });
    stacks.push(memory);
    const shared = await startSessionStack({ instances: 1, redisUrl: redis.url });
    stacks.push(shared);

    say(
      `\n1. Reading the session per request: GET /api/me, sequential, keep-alive (n=${REQUESTS})`,
    );
    for (const [name, stack] of [
      ['memory', memory],
      ['Redis ', shared],
    ] as const) {
      const app = stack.instances[0];
      if (!app) throw new Error('no instance');
      const agent = await signInOverHttp(stack, app.url);
      const call = async () => {
        const r = await agent.request(`${app.url}/api/me`);
        if (r.status !== 200) throw new Error(`/api/me answered ${r.status}`);
      };
      await time(100, call);
      say(`   ${name}: ${summarize(await time(REQUESTS, call))}`);
    }

    // In-process: the lib pointed at the Redis stack's provider, as the app is.
    const app = shared.instances[0];
    if (!app) throw new Error('no instance');
    Object.assign(process.env, {
      OIDC_ISSUER: shared.issuer,
      APP_URL: app.url,
      API_RESOURCE: shared.apiResource,
      OIDC_CLIENT_KEY_FILE: RS256_KEY,
      SESSION_SECRET: readFileSync(SESSION_SECRET_FILE, 'utf8').trim(),
    });
    const quiet = console.log;
    console.log = () => undefined;
    let signIn: Awaited<ReturnType<typeof completeSignIn>>;
    try {
      await completeWarmUp(app.url);
      signIn = await signInInProcess(app.url);
    } finally {
      console.log = quiet;
    }
    const store = createRedisSessionStore({ url: redis.url });
    const record = buildSessionRecord(signIn, { id: createSessionId() });
    await store.create(record);
    const read = async () => void (await store.get(record.id));
    await time(200, read);
    say(
      `   Redis read alone (in-process, one HMGET): ${summarize(await time(REQUESTS * 5, read))}`,
    );
    await store.close();

    say(
      `\n2. Refresh grant round trip (fresh assertion, resource=API_RESOURCE, rotation; n=${REFRESHES})`,
    );
    let refreshToken = signIn.refresh_token;
    const refreshes: number[] = [];
    console.log = () => undefined;
    try {
      for (let i = 0; i < REFRESHES; i++) {
        if (!refreshToken) throw new Error('no refresh token');
        const t0 = performance.now();
        const refreshed = await refreshUserApiToken(refreshToken, 'alice');
        refreshes.push(performance.now() - t0);
        refreshToken = refreshed.refresh_token ?? refreshToken;
      }
    } finally {
      console.log = quiet;
    }
    say(`   ${summarize(refreshes.slice(5))} (first 5 left out: warm-up)`);

    say('\n3. A warm sign-in at the provider');
    const requests = signIn.trace.requests.map(
      (r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`,
    );
    say(
      `   back-channel requests: ${requests.join(', ')}; ` +
        `client assertions signed: ${signIn.trace.clientAssertions.length}`,
    );
    say(
      '   The API token is not fetched at sign-in: the first getAccessToken() gets it (a refresh grant).',
    );
  } finally {
    for (const stack of stacks) await stack.stop();
    await redis.remove();
  }
}

async function completeWarmUp(appUrl: string): Promise<void> {
  // Discovery, JWKS and key import happen on the first sign-in; the measured one is warm.
  await signInInProcess(appUrl);
}

async function signInInProcess(
  appUrl: string,
): Promise<Awaited<ReturnType<typeof completeSignIn>>> {
  const { url, transaction } = await startSignIn('/profile');
  const callback = await driveSignIn(url, {
    login: 'alice',
    password: 'alice-password',
    redirectUri: `${appUrl}/auth/callback`,
  });
  return completeSignIn(callback.searchParams, transaction);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`bench:sessions: ${err.message}`);
    process.exit(1);
  },
);
