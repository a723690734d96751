import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import {
  appServer,
  findFreePort,
  startChild,
  stopChild,
  tsxNode,
  waitForHttp,
  type Child,
} from '../../scripts/processes';
import { RS256_KEY, SESSION_SECRET_FILE } from './material';

/**
 * The bundled provider and N instances of the app (production build), each a child process on a
 * free loopback port, all sharing the client key, SESSION_SECRET and API_RESOURCE, and, when
 * `redisUrl` is given, the session store. Two ports on localhost share cookies, so a browser
 * signed in on one instance is signed in on all of them when they share Redis.
 *
 * The provider knows the first instance as the client's APP_URL (redirect URI, jwks_uri,
 * backchannel_logout_uri): sign-ins and Logout Tokens go there, any instance serves the rest.
 */

export type AppInstance = {
  readonly url: string;
  /** The PID of the instance's current process (it changes when the instance is restarted). */
  pid(): number | undefined;
  /** This instance's log, across restarts. */
  log(): string[];
  /** Lines of this instance's log that contain `text`. */
  count(text: string | RegExp): number;
};

export type SessionStack = {
  readonly issuer: string;
  readonly apiResource: string;
  readonly instances: readonly AppInstance[];
  providerLog(): string[];
  /** Token-endpoint requests the provider logged with this grant type and outcome ok. */
  countGrants(grantType: string): number;
  /** Stops the provider (the app then finds it unreachable). */
  stopProvider(): Promise<void>;
  /** Starts the provider again on the same port: a new process that remembers no grant. */
  startProvider(): Promise<void>;
  /** Freezes the provider (SIGSTOP to its process group): requests to it wait, unanswered. */
  pauseProvider(): void;
  /** Thaws a paused provider (SIGCONT): the requests that waited are answered. */
  resumeProvider(): void;
  /**
   * Stops instance `index` (by PID, its process group) and starts it again on the same port with
   * the same settings: a new process that shares nothing with the old one but the session store.
   */
  restartInstance(index: number): Promise<void>;
  stop(): Promise<void>;
};

export type SessionStackOptions = {
  readonly instances: number;
  readonly redisUrl?: string;
  readonly providerEnv?: Readonly<Record<string, string>>;
  readonly appEnv?: Readonly<Record<string, string>>;
};

function countLines(lines: readonly string[], text: string | RegExp): number {
  return lines.filter((line) => (typeof text === 'string' ? line.includes(text) : text.test(line)))
    .length;
}

export async function startSessionStack(options: SessionStackOptions): Promise<SessionStack> {
  const providerPort = await findFreePort();
  const appPorts: number[] = [];
  for (let i = 0; i < options.instances; i++) appPorts.push(await findFreePort());
  const issuer = `http://localhost:${providerPort}`;
  const firstAppUrl = `http://localhost:${appPorts[0]}`;
  // One resource indicator for every instance and the provider (by default each instance would
  // derive its own from its APP_URL).
  const apiResource = `${firstAppUrl}/api`;
  const sessionSecret = readFileSync(SESSION_SECRET_FILE, 'utf8').trim();
  const echo = process.env.E2E_ECHO === '1';
  const children: Child[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
  };
  const providerOutput: string[] = [];
  let provider: Child | undefined;
  const startProvider = async () => {
    const started = startChild({
      name: 'op',
      ...tsxNode('provider/index.ts'),
      env: {
        ...process.env,
        PROVIDER_ISSUER: issuer,
        APP_URL: firstAppUrl,
        API_RESOURCE: apiResource,
        ...options.providerEnv,
      },
      echo,
    });
    provider = started;
    children.push(started);
    // Keep every line across restarts (each process's own buffer starts empty).
    for (const stream of [started.process.stdout, started.process.stderr]) {
      if (stream)
        createInterface({ input: stream }).on('line', (line) => providerOutput.push(line));
    }
    await waitForHttp(`${issuer}/.well-known/openid-configuration`, started, 30_000);
  };
  try {
    await startProvider();
    const appUrls = appPorts.map((port) => `http://localhost:${port}`);
    // Each instance's lines, kept across restarts (each process's own buffer starts empty).
    const appOutputs: string[][] = appPorts.map(() => []);
    const apps: Child[] = [];
    const startApp = (index: number): Child => {
      const url = appUrls[index] as string;
      const app = startChild({
        name: `app${index + 1}`,
        ...appServer(['-H', 'localhost', '-p', String(appPorts[index])]),
        env: {
          ...process.env,
          NODE_ENV: 'production',
          NEXT_TELEMETRY_DISABLED: '1',
          APP_URL: url,
          OIDC_ISSUER: issuer,
          OIDC_CLIENT_KEY_FILE: RS256_KEY,
          SESSION_SECRET: sessionSecret,
          API_RESOURCE: apiResource,
          ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
          ...options.appEnv,
        },
        echo,
      });
      for (const stream of [app.process.stdout, app.process.stderr]) {
        if (stream)
          createInterface({ input: stream }).on('line', (line) => appOutputs[index]?.push(line));
      }
      children.push(app);
      apps[index] = app;
      return app;
    };
    const waitForApp = (index: number, app: Child) =>
      waitForHttp(`${appUrls[index]}/.well-known/jwks.json`, app, 30_000);
    await Promise.all(appPorts.map((_, index) => waitForApp(index, startApp(index))));
    return {
      issuer,
      apiResource,
      instances: appUrls.map((url, index) => ({
        url,
        pid: () => apps[index]?.process.pid,
        log: () => [...(appOutputs[index] ?? [])],
        count: (text) => countLines(appOutputs[index] ?? [], text),
      })),
      providerLog: () => [...providerOutput],
      countGrants: (grantType) =>
        countLines(
          providerOutput,
          new RegExp(`^\\[op\\] token grant_type=${grantType} .* outcome=ok$`),
        ),
      async stopProvider() {
        if (provider) await stopChild(provider);
      },
      startProvider,
      pauseProvider() {
        if (provider?.process.pid !== undefined) process.kill(-provider.process.pid, 'SIGSTOP');
      },
      resumeProvider() {
        if (provider?.process.pid !== undefined) process.kill(-provider.process.pid, 'SIGCONT');
      },
      async restartInstance(index) {
        const running = apps[index];
        if (!running) throw new Error(`no app instance ${index}`);
        await stopChild(running);
        await waitForApp(index, startApp(index));
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
