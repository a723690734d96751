import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';

import { isLoopbackUrl } from '../lib/config';

/**
 * Where `npm run test:provider` starts the app, and the check that APP_URL reaches it.
 *
 * APP_URL is the app's public origin: what the provider has registered (APP_URL/auth/callback,
 * APP_URL/.well-known/jwks.json) and where the browser goes. On loopback (http://localhost:3000)
 * the app listens there itself, as before. Anywhere else (https://rp.example.com) TLS ends at a
 * reverse proxy or tunnel the integrator runs, which forwards to the app on this machine:
 * http://localhost:E2E_APP_PORT. The app is told APP_URL all the same (its cookies are Secure and
 * `__Host-` for an https APP_URL, whatever it listens on), and reads no X-Forwarded-* header.
 */

/** The README section that documents the suite and its variables. */
export const README_SECTION = '`npm run test:provider`: the browser suite against your provider';

const SEE_README = `see README, "${README_SECTION}"`;

/** Why the app cannot be started, or not reached, for this run. */
export type AppAddressProblem =
  | 'app_url_invalid'
  | 'app_port_invalid'
  | 'app_port_missing'
  | 'app_port_is_app_url'
  | 'app_port_in_use'
  | 'app_url_elsewhere';

export class AppAddressError extends Error {
  readonly code: AppAddressProblem;
  constructor(code: AppAddressProblem, message: string) {
    super(message);
    this.name = 'AppAddressError';
    this.code = code;
  }
}

export type AppAddress = {
  /** APP_URL's origin: the app's public address, where the browser goes. */
  readonly appUrl: string;
  /** The loopback port the app listens on (plain http). */
  readonly listenPort: number;
  /** `http://localhost:<listenPort>`: the app as this machine reaches it directly. */
  readonly localUrl: string;
  /** True when APP_URL is not the app's own listening address (a proxy or tunnel is between). */
  readonly proxied: boolean;
};

function defaultPort(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

/**
 * APP_URL and E2E_APP_PORT read as the suite uses them. An http APP_URL on loopback needs nothing
 * else (the app listens on its port, or on E2E_APP_PORT behind a local proxy); any other APP_URL
 * needs E2E_APP_PORT, the port the integrator's proxy or tunnel forwards to.
 */
export function appAddressFromEnv(env: Readonly<Record<string, string | undefined>>): AppAddress {
  const raw = env.APP_URL?.trim() || 'http://localhost:3000';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppAddressError('app_url_invalid', `APP_URL "${raw}" is not a URL (${SEE_README})`);
  }
  // The app's own rule: loopback is where it tolerates plain http.
  const loopback = isLoopbackUrl(url);
  // MUST: plain http only on loopback, as the app itself requires (lib/config.ts).
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    (url.protocol === 'http:' && !loopback) ||
    url.username !== '' ||
    url.password !== ''
  ) {
    throw new AppAddressError(
      'app_url_invalid',
      `APP_URL must be an https URL, or http on localhost (${SEE_README})`,
    );
  }
  const portRaw = env.E2E_APP_PORT?.trim();
  let listenPort: number;
  if (portRaw) {
    if (!/^\d{1,5}$/.test(portRaw) || Number(portRaw) < 1 || Number(portRaw) > 65_535) {
      throw new AppAddressError(
        'app_port_invalid',
        `E2E_APP_PORT "${portRaw}" is not a TCP port (1–65535)`,
      );
    }
    listenPort = Number(portRaw);
    // An https APP_URL on this machine's own port is the proxy's; the app cannot listen there too.
    if (loopback && url.protocol === 'https:' && listenPort === defaultPort(url)) {
      throw new AppAddressError(
        'app_port_is_app_url',
        `E2E_APP_PORT ${listenPort} is APP_URL's own port (${url.origin}), where your TLS proxy ` +
          `listens: give the port the proxy forwards to (${SEE_README})`,
      );
    }
  } else if (loopback && url.protocol === 'http:') {
    listenPort = defaultPort(url);
  } else {
    throw new AppAddressError(
      'app_port_missing',
      `APP_URL is ${url.origin}, so the app is reached through your reverse proxy or tunnel: set ` +
        `E2E_APP_PORT to the port it forwards to (the app then listens on ` +
        `http://localhost:E2E_APP_PORT) (${SEE_README})`,
    );
  }
  return {
    appUrl: url.origin,
    listenPort,
    localUrl: `http://localhost:${listenPort}`,
    proxied: url.protocol === 'https:' || defaultPort(url) !== listenPort,
  };
}

/** What a GET answered: its status and body, or why there was no answer. */
export type ProbeAnswer =
  { readonly status: number; readonly body: string } | { readonly error: string };

/** Fetches a URL as the tests will reach it (the browser, in the suite). */
export type ProbeGet = (url: string, timeoutMs: number) => Promise<ProbeAnswer>;

/** The path the probe listens on; the random part is this run's only. */
const PROBE_PATH = '/.well-known/rp-e2e-probe/';

/**
 * Proves, before the app starts, that APP_URL reaches the port this run will start the app on:
 * listens on http://localhost:<listenPort> for a path with a random part and answers a second
 * random value, then GETs APP_URL + that path through `get`. Only this run knows both values, so
 * an answer from an older app, another machine or the tunnel's error page does not pass. Ends by
 * closing the listener (and its connections), for the app to take the port.
 */
export async function probeAppUrl(
  address: AppAddress,
  get: ProbeGet,
  timeoutMs = 15_000,
): Promise<void> {
  const path = `${PROBE_PATH}${randomBytes(16).toString('base64url')}`;
  const answer = randomBytes(16).toString('base64url');
  const server = createServer((request, response) => {
    const hit = request.url === path;
    response.writeHead(hit ? 200 : 404, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
    });
    response.end(hit ? answer : 'npm run test:provider: not the probe path');
  });
  await listen(server, address.listenPort);
  const target = `${address.appUrl}${path}`;
  const deadline = Date.now() + timeoutMs;
  let last: ProbeAnswer = { error: 'no answer' };
  try {
    // A tunnel may answer an error for a moment while it (re)connects to the port.
    while (Date.now() < deadline) {
      last = await get(target, Math.max(1000, Math.min(5000, deadline - Date.now())));
      if ('status' in last && last.status === 200 && last.body.trim() === answer) return;
      await new Promise((done) => setTimeout(done, 500));
    }
  } finally {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
  const got =
    'error' in last
      ? last.error
      : `HTTP ${last.status}${last.body.trim() === '' ? '' : `: ${last.body.trim().slice(0, 120)}`}`;
  throw new AppAddressError(
    'app_url_elsewhere',
    `APP_URL ${address.appUrl} does not reach this run's app on ${address.localUrl} ` +
      `(E2E_APP_PORT): GET ${address.appUrl}${PROBE_PATH}… got ${got}, not this run's probe ` +
      `answer. Check that your tunnel or reverse proxy is running and forwards ${address.appUrl} ` +
      `to ${address.localUrl} (${SEE_README})`,
  );
}

/** Listens on `localhost:port` as the app will (`next start -H localhost`). */
function listen(server: Server, port: number): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      fail(
        err.code === 'EADDRINUSE'
          ? new AppAddressError(
              'app_port_in_use',
              `port ${port} (E2E_APP_PORT, or APP_URL's port) is already in use on this machine: ` +
                `stop what listens there (an app left running?) or choose another port`,
            )
          : err,
      );
    });
    server.listen(port, 'localhost', () => done());
  });
}
