import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import {
  findFreePort,
  nextCli,
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
    const apps = appPorts.map((port, index) => {
      const url = `http://localhost:${port}`;
      const app = startChild({
        name: `app${index + 1}`,
        ...nextCli(['start', '-H', 'localhost', '-p', String(port)]),
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
      children.push(app);
      return { url, app };
    });
    await Promise.all(
      apps.map(({ url, app }) => waitForHttp(`${url}/.well-known/jwks.json`, app, 30_000)),
    );
    return {
      issuer,
      apiResource,
      instances: apps.map(({ url, app }) => ({
        url,
        log: () => [...app.output],
        count: (text) => countLines(app.output, text),
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
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
