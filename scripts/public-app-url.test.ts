import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { findFreePort } from './processes';
import {
  appAddressFromEnv,
  AppAddressError,
  probeAppUrl,
  README_SECTION,
  type AppAddress,
  type ProbeGet,
} from './public-app-url';

function problemOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof AppAddressError, String(err));
    return err.code;
  }
  assert.fail('no error');
}

/** The app's address when APP_URL reaches the app through a proxy or tunnel to `listenPort`. */
function behindProxy(appUrl: string, listenPort: number): AppAddress {
  return { appUrl, listenPort, localUrl: `http://localhost:${listenPort}`, proxied: true };
}

describe('appAddressFromEnv: where npm run test:provider starts the app', () => {
  it('a loopback http APP_URL: the app listens on its port, as before', () => {
    assert.deepEqual(appAddressFromEnv({ APP_URL: 'http://localhost:3000/' }), {
      appUrl: 'http://localhost:3000',
      listenPort: 3000,
      localUrl: 'http://localhost:3000',
      proxied: false,
    });
    assert.equal(appAddressFromEnv({}).appUrl, 'http://localhost:3000');
    assert.equal(appAddressFromEnv({ APP_URL: 'http://127.0.0.1' }).listenPort, 80);
  });

  it('an https APP_URL elsewhere: the app listens on E2E_APP_PORT, told APP_URL', () => {
    assert.deepEqual(
      appAddressFromEnv({ APP_URL: 'https://RP.example.com:443/', E2E_APP_PORT: '3001' }),
      {
        appUrl: 'https://rp.example.com',
        listenPort: 3001,
        localUrl: 'http://localhost:3001',
        proxied: true,
      },
    );
    // A local proxy in front of a loopback APP_URL is a proxy too: it is probed.
    assert.equal(
      appAddressFromEnv({ APP_URL: 'http://localhost:3000', E2E_APP_PORT: '3001' }).proxied,
      true,
    );
  });

  it('fails early, naming the variables, when the port the proxy forwards to is missing', () => {
    for (const APP_URL of ['https://rp.example.com', 'https://localhost:8443']) {
      assert.equal(
        problemOf(() => appAddressFromEnv({ APP_URL })),
        'app_port_missing',
      );
      assert.throws(() => appAddressFromEnv({ APP_URL }), /APP_URL.*E2E_APP_PORT/s);
    }
  });

  it('refuses what cannot work: plain http off loopback, bad ports, the proxy’s own port', () => {
    const cases: ReadonlyArray<[Record<string, string>, string]> = [
      [{ APP_URL: 'http://rp.example.com', E2E_APP_PORT: '3001' }, 'app_url_invalid'],
      [{ APP_URL: 'ftp://rp.example.com', E2E_APP_PORT: '3001' }, 'app_url_invalid'],
      [{ APP_URL: 'https://user:pw@rp.example.com', E2E_APP_PORT: '3001' }, 'app_url_invalid'],
      [{ APP_URL: 'not a url' }, 'app_url_invalid'],
      [{ APP_URL: 'https://rp.example.com', E2E_APP_PORT: '0' }, 'app_port_invalid'],
      [{ APP_URL: 'https://rp.example.com', E2E_APP_PORT: '70000' }, 'app_port_invalid'],
      [{ APP_URL: 'https://rp.example.com', E2E_APP_PORT: '30x' }, 'app_port_invalid'],
      [{ APP_URL: 'https://localhost:8443', E2E_APP_PORT: '8443' }, 'app_port_is_app_url'],
    ];
    for (const [env, code] of cases)
      assert.equal(
        problemOf(() => appAddressFromEnv(env)),
        code,
      );
  });

  it('names a README section that exists', () => {
    const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    assert.ok(readme.split('\n').includes(`### ${README_SECTION}`), README_SECTION);
    assert.throws(
      () => appAddressFromEnv({ APP_URL: 'https://rp.example.com' }),
      (err: Error) => err.message.includes(README_SECTION),
    );
  });
});

/** A plain http forwarder on loopback, to `targetPort`: the integrator's tunnel. */
async function forwarder(targetPort: number): Promise<{ port: number; server: Server }> {
  const port = await findFreePort();
  const server = createServer((incoming, outgoing) => {
    const upstream = request(
      { host: 'localhost', port: targetPort, path: incoming.url, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.writeHead(502).end('bad gateway'));
    upstream.end();
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return { port, server };
}

const nodeGet: ProbeGet = async (url, timeoutMs) => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await response.text() };
  } catch (err) {
    return { error: (err as Error).message };
  }
};

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
}

describe('probeAppUrl: APP_URL reaches the port this run starts the app on', () => {
  it('passes through a proxy that forwards to the port, and leaves the port free', async () => {
    const listenPort = await findFreePort();
    const tunnel = await forwarder(listenPort);
    const address = behindProxy(`http://localhost:${tunnel.port}`, listenPort);
    try {
      await probeAppUrl(address, nodeGet, 5000);
      // The app can take the port now.
      const app = createServer((_, res) => res.end());
      await new Promise<void>((done) => app.listen(listenPort, 'localhost', done));
      await close(app);
    } finally {
      await close(tunnel.server);
    }
  });

  it('fails, saying to check the tunnel, when APP_URL reaches another server', async () => {
    // An app left running elsewhere, answering every path with 200.
    const otherPort = await findFreePort();
    const other = createServer((_, res) => res.end('an older app'));
    await new Promise<void>((done) => other.listen(otherPort, 'localhost', done));
    const tunnel = await forwarder(otherPort);
    const listenPort = await findFreePort();
    try {
      const started = Date.now();
      await assert.rejects(
        probeAppUrl(behindProxy(`http://localhost:${tunnel.port}`, listenPort), nodeGet, 1500),
        (err: unknown) =>
          err instanceof AppAddressError &&
          err.code === 'app_url_elsewhere' &&
          /tunnel/.test(err.message) &&
          err.message.includes('E2E_APP_PORT'),
      );
      assert.ok(Date.now() - started < 5000, 'a short timeout');
    } finally {
      await close(tunnel.server);
      await close(other);
    }
  });

  it('fails when nothing answers at APP_URL (the tunnel is down)', async () => {
    const [listenPort, deadPort] = [await findFreePort(), await findFreePort()];
    await assert.rejects(
      probeAppUrl(behindProxy(`http://localhost:${deadPort}`, listenPort), nodeGet, 1000),
      (err: unknown) => err instanceof AppAddressError && err.code === 'app_url_elsewhere',
    );
  });

  it('fails at once when the port is taken on this machine', async () => {
    const listenPort = await findFreePort();
    const taken = createServer((_, res) => res.end());
    await new Promise<void>((done) => taken.listen(listenPort, 'localhost', done));
    try {
      await assert.rejects(
        probeAppUrl(behindProxy('https://rp.example.com', listenPort), nodeGet, 1000),
        (err: unknown) => err instanceof AppAddressError && err.code === 'app_port_in_use',
      );
    } finally {
      await close(taken);
    }
  });
});
