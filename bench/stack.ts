import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, type JsonWebKey } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';

import type { JWK } from 'jose';

import { generatePrivateJwk, writeKeySet } from '../keys/cli';
import {
  APP_START,
  appServer,
  findFreePort,
  startChild,
  stopChild,
  tsxNode,
  type Child,
} from '../scripts/processes';
import { get } from './http';

/**
 * The parts of a benchmark run: one bundled provider, and the relying parties under test, each a
 * separate process on a free loopback port, all registered at that provider with the same RSA
 * 2048 client key.
 *
 * - `app`: this app's production build, started as `npm start` starts it (scripts/start.mjs);
 * - `app+redis`: the same build with `REDIS_URL` (`--redis`), against a redis-server started here;
 * - `base`, `base+redis`: the same for another checkout of the app (`--baseline DIR`);
 * - `peer`: bench/peer, a minimal Next.js app on @auth0/nextjs-auth0 v4 (private_key_jwt),
 *   installed into its own folder and built by the benchmark on first use;
 * - `floor`: bench/floor/server.ts, plain node:http on openid-client doing the app's protocol work;
 * - `floor+redis`: the same floor with `REDIS_URL` (`--redis`): sessions in Redis with the app's
 *   round trips, the floor of `app+redis`.
 */

export type SubjectId =
  'floor' | 'floor+redis' | 'peer' | 'app' | 'app+redis' | 'base' | 'base+redis';

/** The subjects that keep their sessions in Redis (they need `redisUrl`). */
export function usesRedis(id: SubjectId): boolean {
  return id === 'app+redis' || id === 'base+redis' || id === 'floor+redis';
}

export type Subject = {
  readonly id: SubjectId;
  readonly clientId: string;
  readonly url: URL;
  /** The environment it is started with. */
  readonly env: NodeJS.ProcessEnv;
  /** Starts the server (not waiting for it). */
  readonly spawn: () => Child;
};

const ROOT = resolve('.');
const PEER_DIR = join(ROOT, 'bench/peer');
const NEXT_BIN = 'node_modules/next/dist/bin/next';

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(
    stat.mtimeMs,
    ...readdirSync(path)
      .filter((entry) => entry !== 'node_modules' && entry !== '.next')
      .map((entry) => newestMtime(join(path, entry))),
  );
}

/** Whether `dir` has no production build, or one older than any of `sources` (paths in `dir`). */
export function isBuildStale(dir: string, sources: readonly string[]): boolean {
  const buildId = join(dir, '.next/BUILD_ID');
  const builtAt = existsSync(buildId) ? statSync(buildId).mtimeMs : 0;
  return builtAt <= Math.max(...sources.map((s) => newestMtime(join(dir, s))));
}

/** Runs `next build` in `dir` unless its build is newer than every source listed. */
function buildIfStale(dir: string, sources: readonly string[], label: string): void {
  if (!isBuildStale(dir, sources)) return;
  console.log(`Building ${label} (next build, 20–40 s)…`);
  execFileSync(process.execPath, [NEXT_BIN, 'build'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 10 * 60_000,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
  });
}

const APP_SOURCES = [
  'app',
  'lib',
  'public',
  'proxy.ts',
  'instrumentation.ts',
  'next.config.js',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

/** The app's production build in `dir` (another checkout for --baseline), rebuilt when stale. */
export function ensureAppBuild(dir = ROOT): void {
  if (dir !== ROOT && !existsSync(join(dir, NEXT_BIN)))
    throw new Error(`--baseline ${dir}: no ${NEXT_BIN} there (run npm ci in it first)`);
  buildIfStale(dir, APP_SOURCES, dir === ROOT ? 'the app' : `the baseline (${dir})`);
}

/** Installs the peer's dependencies into bench/peer (first run, or after its package.json changed). */
export function ensurePeerBuild(): void {
  const installed = join(PEER_DIR, 'node_modules/.package-lock.json');
  const wanted = Math.max(
    newestMtime(join(PEER_DIR, 'package.json')),
    newestMtime(join(PEER_DIR, 'package-lock.json')),
  );
  if (!existsSync(installed) || statSync(installed).mtimeMs < wanted) {
    const lock = existsSync(join(PEER_DIR, 'package-lock.json'));
    console.log(`Installing the peer (bench/peer: npm ${lock ? 'ci' : 'install'})…`);
    execFileSync('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], {
      cwd: PEER_DIR,
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 10 * 60_000,
    });
  }
  buildIfStale(PEER_DIR, PEER_SOURCES, 'the peer (bench/peer)');
}

/**
 * What the peer's build is made of. MUST: its installed packages too (npm writes
 * node_modules/.package-lock.json on every install): the build bundles the SDK, so a build older
 * than the install would measure the previous @auth0/nextjs-auth0 while the report names the new.
 */
export const PEER_SOURCES = [
  'app',
  'lib',
  'proxy.ts',
  'next.config.js',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'node_modules/.package-lock.json',
] as const;

export type Material = {
  readonly dir: string;
  readonly privateJwksFile: string;
  readonly publicJwksFile: string;
  readonly pkcs8Pem: string;
  readonly sessionSecret: string;
  readonly peerSecret: string;
};

/** A fresh RSA 2048 client key in every form the three relying parties read, and secrets. */
export async function createMaterial(dir: string): Promise<Material> {
  const jwk = await generatePrivateJwk('RS256');
  const privateJwksFile = join(dir, 'client.private.jwks.json');
  const publicJwksFile = join(dir, 'client.public.jwks.json');
  await writeKeySet([jwk as JWK], privateJwksFile, publicJwksFile);
  const pkcs8Pem = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  writeFileSync(join(dir, 'client.pkcs8.pem'), pkcs8Pem, { mode: 0o600 });
  return {
    dir,
    privateJwksFile,
    publicJwksFile,
    pkcs8Pem,
    sessionSecret: randomBytes(32).toString('base64url'),
    peerSecret: randomBytes(32).toString('hex'),
  };
}

/** The API every app subject asks for at sign-in (an identifier, never fetched). */
const API_RESOURCE = 'urn:bench:api';

/**
 * The scope the app asks for at sign-in with its defaults (OIDC_SCOPES and API_SCOPE, lib/sign-in.ts
 * buildAuthorizationParameters), which the peer asks for too, with the same `resource`: the provider
 * does the same work for every subject's sign-in.
 */
const SIGN_IN_SCOPE = 'openid profile email api1';

const CLIENT_IDS: Record<SubjectId, string> = {
  floor: 'bench_floor',
  'floor+redis': 'bench_floor_redis',
  peer: 'bench_peer',
  app: 'bench_app',
  'app+redis': 'bench_app_redis',
  base: 'bench_base',
  'base+redis': 'bench_base_redis',
};

/**
 * Environment for the servers: no inherited OIDC_/APP_ settings from the caller's shell, and none
 * from .env files either.
 */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(OIDC_|APP_URL|SESSION_SECRET|REDIS_URL|API_|PROVIDER_|AUTH0_|NODE_OPTIONS)/.test(key))
      continue;
    env[key] = value;
  }
  return {
    ...env,
    NEXT_TELEMETRY_DISABLED: '1',
    // MUST: `next start` reads the folder's .env files (.env.local, .env.production, …) for every
    // setting its environment lacks: a developer's .env.local (REDIS_URL, OIDC_PAR, OIDC_SCOPES…)
    // would configure the app measured as `app` otherwise than the bench says, and otherwise than
    // the floor and the peer. This is how Next.js tells a process that its .env files were
    // applied already (@next/env): it then reads none.
    __NEXT_PROCESSED_ENV: 'true',
    ...extra,
  } as NodeJS.ProcessEnv;
}

export type SubjectOptions = {
  readonly issuer: URL;
  readonly material: Material;
  readonly redisUrl?: string | undefined;
  /** Extra NODE_OPTIONS for the app (e.g. `--cpu-prof --cpu-prof-dir=…`). */
  readonly appNodeOptions?: string | undefined;
  /** Another checkout of the app (built), measured as `base`. */
  readonly baselineDir?: string | undefined;
};

/** The relying parties to measure, each on its own free port. */
export async function defineSubjects(
  ids: readonly SubjectId[],
  options: SubjectOptions,
): Promise<Subject[]> {
  const { issuer, material } = options;
  const subjects: Subject[] = [];
  for (const id of ids) {
    const port = await findFreePort();
    const url = new URL(`http://localhost:${port}`);
    const clientId = CLIENT_IDS[id];
    const origin = url.origin;
    let command: { command: string; args: string[] };
    let env: NodeJS.ProcessEnv;
    if (usesRedis(id) && !options.redisUrl) throw new Error(`${id} needs a Redis URL`);
    const redisEnv = usesRedis(id) ? { REDIS_URL: options.redisUrl } : {};
    if (id === 'floor' || id === 'floor+redis') {
      command = { command: process.execPath, args: ['bench/floor/server.ts'] };
      env = cleanEnv({
        ...redisEnv,
        NODE_ENV: 'production',
        FLOOR_URL: origin,
        OIDC_ISSUER: issuer.origin,
        OIDC_CLIENT_ID: clientId,
        OIDC_CLIENT_KEY_FILE: material.privateJwksFile,
        SESSION_SECRET: material.sessionSecret,
        API_RESOURCE,
      });
    } else if (id === 'peer') {
      command = {
        command: process.execPath,
        args: [join(PEER_DIR, NEXT_BIN), 'start', PEER_DIR, '-H', 'localhost', '-p', `${port}`],
      };
      env = cleanEnv({
        NODE_ENV: 'production',
        BENCH_PEER_DOMAIN: issuer.origin,
        BENCH_PEER_CLIENT_ID: clientId,
        BENCH_PEER_PRIVATE_KEY: material.pkcs8Pem,
        BENCH_PEER_APP_URL: origin,
        BENCH_PEER_SECRET: material.peerSecret,
        BENCH_PEER_SCOPE: SIGN_IN_SCOPE,
        BENCH_PEER_RESOURCE: API_RESOURCE,
      });
    } else {
      const baseline = id === 'base' || id === 'base+redis';
      const dir = baseline ? options.baselineDir : undefined;
      if (baseline && !dir) throw new Error(`${id} needs --baseline DIR`);
      // Started as `npm start` starts it (scripts/start.mjs); a baseline from before that
      // launcher, as `next start`.
      command =
        dir && !existsSync(join(dir, APP_START))
          ? {
              command: process.execPath,
              args: [join(dir, NEXT_BIN), 'start', dir, '-H', 'localhost', '-p', `${port}`],
            }
          : appServer(['-H', 'localhost', '-p', `${port}`], dir ?? ROOT);
      env = cleanEnv({
        NODE_ENV: 'production',
        APP_URL: origin,
        OIDC_ISSUER: issuer.origin,
        OIDC_CLIENT_ID: clientId,
        OIDC_CLIENT_KEY_FILE: material.privateJwksFile,
        SESSION_SECRET: material.sessionSecret,
        API_RESOURCE,
        ...redisEnv,
        ...(options.appNodeOptions ? { NODE_OPTIONS: options.appNodeOptions } : {}),
      });
    }
    const started = { name: id, ...command, env };
    subjects.push({ id, clientId, url, env, spawn: () => startChild(started) });
  }
  return subjects;
}

/**
 * Starts the benchmark's provider with a client for each subject; resolves when it answers.
 * `track` gets the child as soon as it is spawned, so that a caller can stop it even when it never
 * answers (or the run is interrupted while waiting).
 */
export async function startProvider(
  issuer: URL,
  subjects: readonly Subject[],
  material: Material,
  track: (child: Child) => void,
) {
  const child = startChild({
    name: 'op',
    ...tsxNode('bench/provider-host.ts'),
    env: cleanEnv({
      NODE_ENV: 'development',
      PROVIDER_ISSUER: issuer.origin,
      PROVIDER_CLIENT_JWKS_FILE: material.publicJwksFile,
      API_RESOURCE,
      BENCH_CLIENTS: JSON.stringify(
        subjects.map((s) => ({ clientId: s.clientId, appUrl: s.url.origin })),
      ),
    }),
  });
  track(child);
  await waitFor200(new URL('/.well-known/openid-configuration', issuer), child, 30_000);
  return child;
}

/** Polls `url` until it answers 200; returns the ms from `since` to that answer. */
export async function waitFor200(
  url: URL,
  child: Child,
  timeoutMs: number,
  since = performance.now(),
): Promise<number> {
  const deadline = since + timeoutMs;
  while (performance.now() < deadline) {
    if (child.process.exitCode !== null || child.process.signalCode !== null)
      throw new Error(`${child.name} exited:\n${child.output.slice(-30).join('\n')}`);
    try {
      const reply = await get(url, undefined, false);
      if (reply.status === 200) return performance.now() - since;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(
    `${child.name} did not answer 200 at ${url} within ${timeoutMs} ms:\n${child.output.slice(-30).join('\n')}`,
  );
}

/**
 * Starts `subject` and measures its cold start: spawn to the first 200 of `GET /`. `track` gets
 * the child as soon as it is spawned (see {@link startProvider}).
 */
export async function startCold(
  subject: Subject,
  track: (child: Child) => void,
): Promise<{ child: Child; coldStartMs: number }> {
  const since = performance.now();
  const child = subject.spawn();
  track(child);
  const coldStartMs = await waitFor200(new URL('/', subject.url), child, 60_000, since);
  return { child, coldStartMs };
}

/**
 * A redis-server on a free loopback port with no persistence; stopped with {@link stopChild}. `track`
 * gets the child as soon as it is spawned (see {@link startProvider}).
 */
export async function startRedis(
  track: (child: Child) => void = () => undefined,
): Promise<{ child: Child; url: string }> {
  const port = await findFreePort();
  const child = startChild({
    name: 'redis',
    command: 'redis-server',
    args: ['--port', `${port}`, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    env: process.env,
  });
  // As soon as it is spawned: an interrupted wait below must still stop it.
  track(child);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.end();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (up) return { child, url: `redis://127.0.0.1:${port}` };
    if (child.process.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stopChild(child);
  throw new Error(`redis-server did not start:\n${child.output.slice(-10).join('\n')}`);
}

/** Commands the Redis server has processed so far (INFO stats), not counting this INFO itself. */
export function readRedisCommands(url: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error('redis INFO timed out')), 5000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const match = /total_commands_processed:(\d+)/.exec(text);
      if (match?.[1] && text.includes('\r\n', text.indexOf(match[0]))) {
        clearTimeout(timer);
        socket.end();
        resolve(Number(match[1]));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write('INFO stats\r\n');
  });
}

export { stopChild };
