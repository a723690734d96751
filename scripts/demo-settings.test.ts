import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';

import { DEFAULTS, parseConfig, type Env } from '../lib/config';
import { demoSettings, FAPI2_DEV_KEY_FILE } from './demo-settings';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** `.env.example` as `.env.local` would hold it once copied, as its first line says to. */
const ENV_EXAMPLE = parseEnv(readFileSync(join(ROOT, '.env.example'), 'utf8')) as Env;

/** A project root with the development key files (parseConfig checks that they can be read). */
const root = mkdtempSync(join(tmpdir(), 'demo-settings-'));
for (const file of [DEFAULTS.devKeyFile, FAPI2_DEV_KEY_FILE]) {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), '{}');
}
after(() => rmSync(root, { recursive: true, force: true }));

/** What the app of `npm run demo` is started with: production, with the demo's explicit settings. */
function appEnv(env: Env, fapi2: boolean): Env {
  const demo = demoSettings(env, { fapi2 });
  return {
    ...env,
    NODE_ENV: 'production',
    APP_URL: demo.appUrl,
    OIDC_ISSUER: demo.issuer,
    SESSION_SECRET: demo.sessionSecret ?? 'a-generated-development-secret-of-43-chars',
    OIDC_CLIENT_KEY_FILE: demo.clientKeyFile,
    ...(fapi2 ? { OIDC_PROFILE: 'fapi2' } : {}),
  };
}

describe('npm run demo settings', () => {
  it('with nothing set: the bundled provider, the development key and a generated secret', () => {
    const demo = demoSettings({}, { fapi2: false });
    assert.equal(demo.appUrl, DEFAULTS.appUrl);
    assert.equal(demo.issuer, DEFAULTS.issuer);
    assert.equal(demo.bundled, true);
    assert.equal(demo.clientKeyFile, DEFAULTS.devKeyFile);
    assert.equal(demo.clientKeyIsDemo, true);
    assert.equal(demo.sessionSecret, undefined);
    assert.equal(demoSettings({}, { fapi2: true }).clientKeyFile, FAPI2_DEV_KEY_FILE);
  });

  it('an empty setting is unset, as the app reads it (SESSION_SECRET= in .env.local)', () => {
    const demo = demoSettings(
      { SESSION_SECRET: '', OIDC_CLIENT_KEY_FILE: ' ', APP_URL: '', OIDC_ISSUER: '' },
      { fapi2: false },
    );
    assert.equal(demo.sessionSecret, undefined);
    assert.equal(demo.clientKeyFile, DEFAULTS.devKeyFile);
    assert.equal(demo.appUrl, DEFAULTS.appUrl);
    assert.equal(demo.bundled, true);
  });

  it('another provider is not started; a provider moved with PROVIDER_ISSUER is', () => {
    assert.equal(
      demoSettings({ OIDC_ISSUER: 'https://idp.example.com' }, { fapi2: false }).bundled,
      false,
    );
    const moved = demoSettings({ PROVIDER_ISSUER: 'http://localhost:4400' }, { fapi2: false });
    assert.equal(moved.issuer, 'http://localhost:4400');
    assert.equal(moved.bundled, true);
  });

  it('.env.example copied to .env.local: the demo’s app accepts its configuration', () => {
    assert.doesNotThrow(() => parseConfig(appEnv(ENV_EXAMPLE, false), { root }));
  });

  it('.env.example copied to .env.local: npm run demo -- --fapi2 too, with its ES256 key', () => {
    assert.equal(demoSettings(ENV_EXAMPLE, { fapi2: true }).clientKeyFile, FAPI2_DEV_KEY_FILE);
    assert.doesNotThrow(() => parseConfig(appEnv(ENV_EXAMPLE, true), { root }));
  });

  it('.env.example names no development default that production would take as set', () => {
    // Production refuses an implicit issuer, origin and key (lib/config.ts); a copy of the
    // example in production must not make the development values explicit.
    for (const name of ['OIDC_ISSUER', 'APP_URL', 'OIDC_CLIENT_KEY_FILE', 'SESSION_SECRET'])
      assert.equal(ENV_EXAMPLE[name] ?? '', '', name);
  });
});
