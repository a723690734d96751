import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { startTlsProxy, type TlsProxy } from '../e2e/support/tls-proxy';
import { findFreePort, startChild, stopChild, tsxNode, waitForHttp } from './processes';

/**
 * `npm run test:provider:bundled` (part of `npm test`): proves `npm run test:provider` by running
 * it against the bundled provider started as an external process with settings other than the
 * defaults — a client id of its own, only the token endpoint accepted as the assertion's audience,
 * opaque refusals, consent asked — and configured only through the variables a user sets for their
 * own provider: OIDC_* for the app, E2E_USERNAME / E2E_PASSWORD for the login pages.
 *
 * It runs the suite twice:
 *   - `loopback`: APP_URL=http://localhost:<port>, the app listening there itself;
 *   - `behind-proxy`: APP_URL=https://rp.test:<port>, a public name in front of the app, as an
 *     integrator's tunnel or reverse proxy gives it (e2e/support/tls-proxy.ts: TLS ends there, with
 *     a certificate made for the run), and E2E_APP_PORT, the loopback port it forwards to. Chromium
 *     resolves rp.test to the proxy (playwright.any-provider-proxied.config.ts), and so do the
 *     app and the tests (e2e/support/test-host-resolver.mjs): the app calls its own API at APP_URL.
 * `-- loopback` or `-- behind-proxy` runs one of them.
 *
 * E2E_KEY_ROTATION=1 adds the key rotation (about 65 s of waiting for the provider's JWKS cache).
 */

const CLIENT_ID = 'any-provider-client';

const VARIANTS = ['loopback', 'behind-proxy'] as const;
type Variant = (typeof VARIANTS)[number];

/** The public host name of the behind-proxy run (mapped to 127.0.0.1, never looked up). */
const PUBLIC_HOST = 'rp.test';

async function runVariant(variant: Variant): Promise<number> {
  console.log(`\n[test:provider:bundled] ${variant}`);
  const dir = resolve('.e2e/any-provider', variant);
  mkdirSync(dir, { recursive: true });
  // A PKCS#8 PEM key, as a user of another provider would bring; the provider reads it from the
  // app's jwks_uri.
  const keyFile = join(dir, 'client.pem');
  writeFileSync(
    keyFile,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }),
    { mode: 0o600 },
  );
  const [providerPort, appPort] = [await findFreePort(), await findFreePort()];
  const issuer = `http://localhost:${providerPort}`;
  let proxy: TlsProxy | undefined;
  if (variant === 'behind-proxy') {
    proxy = await startTlsProxy({
      hostName: PUBLIC_HOST,
      port: await findFreePort(),
      targetPort: appPort,
      certFile: join(dir, 'proxy.cert.pem'),
    });
  }
  const appUrl = proxy ? `https://${PUBLIC_HOST}:${proxy.port}` : `http://localhost:${appPort}`;
  const provider = startChild({
    name: 'op',
    ...tsxNode('provider/index.ts'),
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      PROVIDER_ISSUER: issuer,
      APP_URL: appUrl,
      PROVIDER_CLIENT_ID: CLIENT_ID,
      PROVIDER_CLIENT_REGISTRATION: 'jwks_uri',
      // A provider on the internet reads APP_URL's jwks_uri; this one stands in for it on
      // loopback and reads the app where it listens (its SSRF guard refuses rp.test's 127.0.0.1).
      ...(proxy
        ? { PROVIDER_CLIENT_JWKS_URI: `http://localhost:${appPort}/.well-known/jwks.json` }
        : {}),
      PROVIDER_ASSERTION_AUDIENCE: 'token_endpoint',
      PROVIDER_CLIENT_AUTH_FAILURE: 'opaque',
    },
    echo: process.env.E2E_ECHO === '1',
  });
  try {
    await waitForHttp(`${issuer}/.well-known/openid-configuration`, provider, 30_000);
    // Only what a user sets for their own provider; nothing of this repository's test set-up.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(
        ([name]) => !/^(OIDC_|API_|APP_URL$|SESSION_SECRET$|E2E_)/.test(name),
      ),
    );
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      NODE_ENV: 'test',
      OIDC_ISSUER: issuer,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_KEY_FILE: keyFile,
      OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint',
      APP_URL: appUrl,
      E2E_USERNAME: 'bob',
      E2E_PASSWORD: 'bob-password',
      E2E_CLIENT_CREDENTIALS: '1',
      ...(process.env.E2E_KEY_ROTATION ? { E2E_KEY_ROTATION: process.env.E2E_KEY_ROTATION } : {}),
      ...(process.env.E2E_ECHO ? { E2E_ECHO: process.env.E2E_ECHO } : {}),
      ...(proxy
        ? {
            E2E_APP_PORT: String(appPort),
            // The proxy's certificate, trusted by the app (it calls its API at APP_URL) and the tests.
            NODE_EXTRA_CA_CERTS: proxy.certFile,
            NODE_OPTIONS: [
              process.env.NODE_OPTIONS,
              `--import=${pathToFileURL(resolve('e2e/support/test-host-resolver.mjs')).href}`,
            ]
              .filter(Boolean)
              .join(' '),
          }
        : {}),
    };
    const config = proxy
      ? 'playwright.any-provider-proxied.config.ts'
      : 'playwright.any-provider.config.ts';
    const runner = spawn(
      process.execPath,
      ['node_modules/@playwright/test/cli.js', 'test', '-c', config],
      { env, stdio: 'inherit' },
    );
    const code = await new Promise<number>((done) => runner.once('exit', (c) => done(c ?? 1)));
    if (code !== 0) {
      console.error(`\n[test:provider:bundled] ${variant}: provider log (last lines):`);
      console.error(provider.output.slice(-40).join('\n'));
    }
    return code;
  } finally {
    await stopChild(provider);
    await proxy?.stop();
  }
}

async function main(): Promise<number> {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((name) => !(VARIANTS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new Error(`unknown variant ${unknown.join(', ')} (use ${VARIANTS.join(', ')})`);
  const variants = VARIANTS.filter((v) => asked.length === 0 || asked.includes(v));
  for (const variant of variants) {
    const code = await runVariant(variant);
    if (code !== 0) return code;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`test:provider:bundled: ${(err as Error).message}`);
    process.exit(1);
  },
);
