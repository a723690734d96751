import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import nextEnv from '@next/env';

import { DEFAULTS, readOrCreateDevSessionSecret } from '../lib/config';
import { warnLoudly } from '../lib/log';
import { ensureDevKey, generatePrivateJwk, PRIVATE_FILE, writeKeySet } from '../keys/cli';
import { DEMO_ACCOUNTS } from '../provider/accounts';
import { demoSettings, FAPI2_DEV_KEY_FILE } from './demo-settings';
import {
  appServer,
  nextCli,
  startChild,
  stopChild,
  tsxNode,
  waitForHttp,
  type Child,
} from './processes';

/**
 * `npm run demo` — the bundled provider and the app together, ready to sign in.
 *
 * Production build + `npm start`'s server (built once, rebuilt only when sources change): pages
 * are fast and the app behaves as it will in production, including NODE_ENV=production's refusal of
 * implicit development keys and secrets — which is why this launcher names them explicitly.
 * `npm run dev` runs `next dev` instead, for working on the code.
 *
 * `npm run demo -- --fapi2` runs both sides under the FAPI 2.0 Security Profile: the provider with
 * PROVIDER_PROFILE=fapi2 (PAR and DPoP required, PS256/ES256 only) and the app with
 * OIDC_PROFILE=fapi2, signing with an ES256 development key of its own
 * (keys/dev-client-fapi2.private.jwks.json, generated on first use).
 */

const dev = process.argv.includes('--dev');
const fapi2 = process.argv.includes('--fapi2');
const FAPI2_BANNER = '\n  Profile:  FAPI 2.0 (PAR, DPoP, PS256/ES256, RFC 9207 iss)';
const started = performance.now();
nextEnv.loadEnvConfig(process.cwd(), dev);

const settings = demoSettings(process.env, { fapi2 });
const { appUrl, issuer, bundled } = settings;
const app = new URL(appUrl);

const SOURCES = [
  'app',
  'lib',
  'public',
  'instrumentation.ts',
  'next.config.js',
  'package.json',
  'tsconfig.json',
];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(
    stat.mtimeMs,
    ...readdirSync(path).map((entry) => newestMtime(join(path, entry))),
  );
}

function buildIfStale(): void {
  const buildId = resolve('.next/BUILD_ID');
  const builtAt = existsSync(buildId) ? statSync(buildId).mtimeMs : 0;
  if (builtAt > Math.max(...SOURCES.map(newestMtime))) return;
  console.log(
    builtAt
      ? 'Sources changed since the last build: rebuilding…'
      : 'First run: building the app (about 20 s)…',
  );
  execFileSync(process.execPath, ['node_modules/next/dist/bin/next', 'build'], {
    stdio: 'inherit',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  });
}

async function main(): Promise<void> {
  if (await ensureDevKey()) console.log(`Generated a development key pair in ${PRIVATE_FILE}.`);
  if (fapi2 && !existsSync(FAPI2_DEV_KEY_FILE)) {
    await writeKeySet([await generatePrivateJwk('ES256')], resolve(FAPI2_DEV_KEY_FILE));
    console.log(`Generated an ES256 development key pair in ${FAPI2_DEV_KEY_FILE} (FAPI 2.0).`);
  }
  const { clientKeyFile } = settings;
  const sessionSecret =
    settings.sessionSecret ?? readOrCreateDevSessionSecret(resolve(DEFAULTS.devSessionSecretFile));
  if (settings.clientKeyIsDemo) {
    warnLoudly(
      `DEMO: the app signs with the development key ${clientKeyFile} and a generated session ` +
        'secret. Never use them outside a demo.',
    );
  }
  if (!dev) buildIfStale();
  const buildDone = performance.now();

  const children: Child[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(children.map((c) => stopChild(c)));
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  if (bundled) {
    const provider = startChild({
      name: 'op',
      ...tsxNode('provider/index.ts'),
      env: {
        ...process.env,
        PROVIDER_ISSUER: issuer,
        APP_URL: appUrl,
        // The demo provider keeps its signing keys across restarts (sessions' ID tokens stay valid).
        PROVIDER_SIGNING_KEYS_FILE: settings.providerSigningKeysFile,
        ...(fapi2 ? { PROVIDER_PROFILE: 'fapi2' } : {}),
      },
      echo: true,
    });
    children.push(provider);
    provider.process.once(
      'exit',
      (code) => void (stopping || (console.error(`provider exited (${code})`), stopAll(1))),
    );
    await waitForHttp(`${issuer}/.well-known/openid-configuration`, provider);
  }

  const appArgs = ['-H', app.hostname.replace(/^\[|\]$/g, ''), '-p', app.port || '80'];
  const appChild = startChild({
    name: 'app',
    // Production: as `npm start` starts it.
    ...(dev ? nextCli(['dev', ...appArgs]) : appServer(appArgs)),
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: '1',
      APP_URL: appUrl,
      OIDC_ISSUER: issuer,
      SESSION_SECRET: sessionSecret,
      OIDC_CLIENT_KEY_FILE: clientKeyFile,
      ...(fapi2 ? { OIDC_PROFILE: 'fapi2' } : {}),
    },
    echo: true,
  });
  children.push(appChild);
  appChild.process.once(
    'exit',
    (code) => void (stopping || (console.error(`app exited (${code})`), stopAll(1))),
  );
  await waitForHttp(`${appUrl}/.well-known/jwks.json`, appChild);

  const seconds = (ms: number) => (ms / 1000).toFixed(1);
  const ready = seconds(performance.now() - buildDone);
  const total = seconds(performance.now() - started);
  console.log(`
  Ready in ${ready} s (${total} s including the build check).

  Open ${appUrl} and sign in.
  Provider: ${issuer}${bundled ? ' (bundled)' : ''}${fapi2 ? FAPI2_BANNER : ''}
${bundled ? DEMO_ACCOUNTS.map((a) => `  Account:  ${a.login} / ${a.password}`).join('\n') : ''}

  Ctrl-C stops both.
`);
}

main().catch((err: Error) => {
  console.error(`demo: ${err.message}`);
  process.exit(1);
});
