import { readFileSync } from 'node:fs';

import {
  appServer,
  startChild,
  stopChild,
  tsxNode,
  waitForHttp,
  type Child,
} from '../../scripts/processes';
import { RS256_KEY, SESSION_SECRET_FILE } from './material';

/**
 * The system under test: the bundled provider and the app (production build, `npm start`'s
 * server), each a child process on loopback, stopped by PID at the end.
 */

export type StackOptions = {
  readonly appPort: number;
  readonly providerPort: number;
  /** Extra environment for the app (OIDC_* settings). */
  readonly appEnv?: Readonly<Record<string, string | undefined>>;
  /** Extra environment for the provider (PROVIDER_* settings). */
  readonly providerEnv?: Readonly<Record<string, string | undefined>>;
  /** Start no bundled provider (the app is pointed elsewhere through appEnv). */
  readonly withoutProvider?: boolean;
};

export type Stack = {
  /** The app's public address: APP_URL as the app was told it (a proxy may stand in front). */
  readonly appUrl: string;
  /** Where the app listens on this machine (http://localhost:<appPort>). */
  readonly localUrl: string;
  readonly issuer: string;
  readonly sessionSecret: string;
  /** Everything the app printed so far. */
  appLog(): string[];
  providerLog(): string[];
  stop(): Promise<void>;
};

/**
 * Base port for this run; shift it with E2E_PORT_BASE to run several suites side by side. Spec
 * files own fixed offsets (keys 1–3, hostile input 4, security posture 5–6, provider faults 7–9;
 * their providers 1000 above), the shared `stack` of each worker 10 × its slot (e2e/fixtures.ts).
 */
export const PORT_BASE = Number(process.env.E2E_PORT_BASE ?? 3100);

export async function startStack(options: StackOptions): Promise<Stack> {
  const appUrl = `http://localhost:${options.appPort}`;
  const issuer = `http://localhost:${options.providerPort}`;
  const sessionSecret = readFileSync(SESSION_SECRET_FILE, 'utf8').trim();
  const children: Child[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
  };
  try {
    let provider: Child | undefined;
    if (!options.withoutProvider) {
      provider = startChild({
        name: 'op',
        ...tsxNode('provider/index.ts'),
        env: { ...process.env, PROVIDER_ISSUER: issuer, APP_URL: appUrl, ...options.providerEnv },
        echo: process.env.E2E_ECHO === '1',
      });
      children.push(provider);
      await waitForHttp(`${issuer}/.well-known/openid-configuration`, provider, 30_000);
    }
    const app = startChild({
      name: 'app',
      ...appServer(['-H', 'localhost', '-p', String(options.appPort)]),
      env: {
        ...process.env,
        NODE_ENV: 'production',
        NEXT_TELEMETRY_DISABLED: '1',
        APP_URL: appUrl,
        OIDC_ISSUER: issuer,
        OIDC_CLIENT_KEY_FILE: RS256_KEY,
        SESSION_SECRET: sessionSecret,
        ...options.appEnv,
      },
      echo: process.env.E2E_ECHO === '1',
    });
    children.push(app);
    await waitForHttp(`${appUrl}/.well-known/jwks.json`, app, 30_000);
    return {
      appUrl: options.appEnv?.APP_URL ?? appUrl,
      localUrl: appUrl,
      issuer: options.appEnv?.OIDC_ISSUER ?? issuer,
      sessionSecret,
      appLog: () => [...app.output],
      providerLog: () => [...(provider?.output ?? [])],
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
