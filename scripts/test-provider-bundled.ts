import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { findFreePort, startChild, stopChild, tsxNode, waitForHttp } from './processes';

/**
 * `npm run test:provider:bundled` (part of `npm test`): proves `npm run test:provider` by running
 * it against the bundled provider started as an external process with settings other than the
 * defaults — a client id of its own, only the token endpoint accepted as the assertion's audience,
 * opaque refusals, consent asked — and configured only through the variables a user sets for their
 * own provider: OIDC_* for the app, E2E_USERNAME / E2E_PASSWORD for the login pages.
 *
 * E2E_KEY_ROTATION=1 adds the key rotation (about 65 s of waiting for the provider's JWKS cache).
 */

const CLIENT_ID = 'any-provider-client';

async function main(): Promise<number> {
  const dir = resolve('.e2e/any-provider');
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
  const appUrl = `http://localhost:${appPort}`;
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
    };
    const runner = spawn(
      process.execPath,
      ['node_modules/@playwright/test/cli.js', 'test', '-c', 'playwright.any-provider.config.ts'],
      { env, stdio: 'inherit' },
    );
    const code = await new Promise<number>((done) => runner.once('exit', (c) => done(c ?? 1)));
    if (code !== 0) {
      console.error(`\n[test:provider:bundled] provider log (last lines):`);
      console.error(provider.output.slice(-40).join('\n'));
    }
    return code;
  } finally {
    await stopChild(provider);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`test:provider:bundled: ${(err as Error).message}`);
    process.exit(1);
  },
);
