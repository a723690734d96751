import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { generatePrivateJwk, writeKeySet } from '../keys/cli';
import { createApiTokenCache, getApiAccessToken } from '../lib/client-credentials';
import { getConfig } from '../lib/config';
import { getProvider } from '../lib/discovery';
import { authorizeRequest, getApiPolicy, getProviderJwks } from '../lib/resource-server';
import {
  appServer,
  startChild,
  stopChild,
  tsxNode,
  waitForHttp,
  type Child,
} from '../scripts/processes';

/**
 * `npm run bench -- --machine` — figures for machine to machine, measured against a real stack:
 * the bundled provider and the production build of the app (as `npm start` runs it), started here
 * on loopback ports and stopped at the end.
 *
 * 1. Token requests caused by 100 concurrent callers of the token client (lib/client-credentials)
 *    with an empty cache, counted where they arrive: in the provider's log of issued tokens.
 * 2. Latency of `GET /api/messages` over HTTP with a cached token: sequentially (median, p95, p99)
 *    and with 10 callers at once (throughput). This is what a caller sees: HTTP, Next.js routing,
 *    and the resource server's checks, including the signature (JWKS cached).
 * 3. The same checks in-process, without HTTP, and the cost of a cache hit of the token client.
 *
 * Settings: BENCH_REQUESTS (1000), ports E2E_PORT_BASE + 50 (app) and + 1050 (provider),
 * E2E_PORT_BASE defaulting to 3100. Speed targets belong here, not in timed tests.
 */

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
const CONCURRENT_CALLERS = 100;
const ROUNDS = 5;
const portBase = Number(process.env.E2E_PORT_BASE ?? 3100) + 50;
const appUrl = `http://localhost:${portBase}`;
const issuer = `http://localhost:${portBase + 1000}`;

function pickPercentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ??
    Number.NaN
  );
}

function summarize(samplesMs: number[]): string {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, v) => sum + v, 0) / sorted.length;
  const f = (v: number) => (v < 1 ? `${(v * 1000).toFixed(0)} µs` : `${v.toFixed(2)} ms`);
  return (
    `median ${f(pickPercentile(sorted, 50))}  p95 ${f(pickPercentile(sorted, 95))} ` +
    ` p99 ${f(pickPercentile(sorted, 99))}  mean ${f(mean)}  min ` +
    `${f(sorted[0] ?? NaN)}  max ${f(sorted.at(-1) ?? NaN)}  (n=${sorted.length})`
  );
}

function ensureBuild(): void {
  if (existsSync('.next/BUILD_ID')) {
    console.log(
      `Using the existing production build (.next, built ` +
        `${statSync('.next/BUILD_ID').mtime.toISOString()}); run \`npm run build\` ` +
        `first if sources changed.`,
    );
    return;
  }
  console.log('No production build: building (about 20 s)…');
  execFileSync(process.execPath, ['node_modules/next/dist/bin/next', 'build'], {
    stdio: 'inherit',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  });
}

async function startStack(
  keyFile: string,
  sessionSecret: string,
): Promise<{ provider: Child; app: Child; children: Child[] }> {
  const children: Child[] = [];
  const provider = startChild({
    name: 'op',
    ...tsxNode('provider/index.ts'),
    env: { ...process.env, PROVIDER_ISSUER: issuer, APP_URL: appUrl },
  });
  children.push(provider);
  await waitForHttp(`${issuer}/.well-known/openid-configuration`, provider, 30_000);
  const app = startChild({
    name: 'app',
    ...appServer(['-H', 'localhost', '-p', String(portBase)]),
    env: {
      ...process.env,
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      APP_URL: appUrl,
      OIDC_ISSUER: issuer,
      OIDC_CLIENT_KEY_FILE: keyFile,
      SESSION_SECRET: sessionSecret,
    },
  });
  children.push(app);
  await waitForHttp(`${appUrl}/.well-known/jwks.json`, app, 30_000);
  return { provider, app, children };
}

/** Runs `task` `count` times with `parallel` callers at once; returns each duration in ms. */
async function measure(
  count: number,
  parallel: number,
  task: () => Promise<void>,
): Promise<{ samples: number[]; wallMs: number }> {
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next++;
        const t0 = performance.now();
        await task();
        samples.push(performance.now() - t0);
      }
    }),
  );
  return { samples, wallMs: performance.now() - started };
}

/** Runs the machine-to-machine figures (see above); stops what it started. */
export async function runMachineToMachine(): Promise<void> {
  ensureBuild();
  const dir = mkdtempSync(join(tmpdir(), 'rp-bench-'));
  const keyFile = join(dir, 'client.private.jwks.json');
  await writeKeySet(
    [await generatePrivateJwk('RS256')],
    keyFile,
    join(dir, 'client.public.jwks.json'),
  );
  const sessionSecret = randomBytes(32).toString('base64url');
  Object.assign(process.env, {
    OIDC_ISSUER: issuer,
    APP_URL: appUrl,
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: sessionSecret,
  });

  console.log(
    `Starting the bundled provider (${issuer}) and the app (${appUrl}, npm start's server)…`,
  );
  const stack = await startStack(keyFile, sessionSecret);
  const originalLog = console.log;
  const say = (line = '') => originalLog(line);
  try {
    // The lib's own request logs would bury the figures.
    console.log = () => undefined;
    const issued = () =>
      stack.provider.output.filter((line) =>
        line.includes('grant.success grant_type=client_credentials'),
      ).length;
    const waitForLog = () => new Promise((resolve) => setTimeout(resolve, 200));
    const { config } = await getProvider();
    const { api } = getConfig();

    say('\n1. Token requests for 100 concurrent callers (empty cache each round)');
    for (let round = 1; round <= ROUNDS; round++) {
      const cache = createApiTokenCache(config, { resource: api.resource, scope: api.scope });
      const before = issued();
      const t0 = performance.now();
      const leases = await Promise.all(
        Array.from({ length: CONCURRENT_CALLERS }, () => cache.get()),
      );
      const ms = performance.now() - t0;
      await waitForLog();
      const distinct = new Set(leases.map((l) => l.token.access_token)).size;
      const sources = leases.reduce<Record<string, number>>(
        (acc, l) => ({ ...acc, [l.source]: (acc[l.source] ?? 0) + 1 }),
        {},
      );
      say(
        `   round ${round}: ${issued() - before} token request(s) at the provider, ` +
          `${distinct} distinct token(s), ${JSON.stringify(sources)}, all ` +
          `${CONCURRENT_CALLERS} served in ${ms.toFixed(1)} ms`,
      );
    }

    const lease = await getApiAccessToken();
    await waitForLog();
    const afterFill = issued();
    const authorization = `Bearer ${lease.token.access_token}`;
    const warm = await fetch(api.messagesUrl, { headers: { authorization } });
    if (warm.status !== 200) throw new Error(`the API answered ${warm.status} to a fresh token`);
    for (let i = 0; i < 50; i++)
      await (await fetch(api.messagesUrl, { headers: { authorization } })).arrayBuffer();

    let refused = 0;
    const callApi = async () => {
      const { token, source } = await getApiAccessToken();
      if (source !== 'cache') refused++;
      const res = await fetch(api.messagesUrl, {
        headers: { authorization: `Bearer ${token.access_token}` },
      });
      await res.arrayBuffer();
      if (res.status !== 200) refused++;
    };
    say(`\n2. GET /api/messages over HTTP with the cached token (production build, keep-alive)`);
    const sequential = await measure(REQUESTS, 1, callApi);
    say(`   sequential:      ${summarize(sequential.samples)}`);
    const parallel = await measure(REQUESTS, 10, callApi);
    say(
      `   10 at once:      ${summarize(parallel.samples)}; ` +
        `${((REQUESTS / parallel.wallMs) * 1000).toFixed(0)} requests/s`,
    );
    say(`   non-200 or non-cached: ${refused}`);

    say('\n3. In-process, no HTTP');
    const request = new Request(api.messagesUrl, { headers: { authorization } });
    const checks = await measure(REQUESTS * 2, 1, async () => {
      const decision = await authorizeRequest(request, getApiPolicy(), getProviderJwks);
      if (!decision.ok) throw new Error(`refused: ${decision.reason}`);
    });
    say(`   resource-server checks (signature included): ${summarize(checks.samples)}`);
    const hits = await measure(REQUESTS * 10, 1, async () => {
      await getApiAccessToken();
    });
    say(`   token client cache hit:                      ${summarize(hits.samples)}`);
    await waitForLog();
    say(
      `\n   Token requests during 2 and 3 (${REQUESTS * 12} token-client calls, all ` +
        `served from the cache): ${issued() - afterFill}`,
    );
  } finally {
    console.log = originalLog;
    await Promise.all(stack.children.map((c) => stopChild(c)));
    rmSync(dir, { recursive: true, force: true });
  }
}
