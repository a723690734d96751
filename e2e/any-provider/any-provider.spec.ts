import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test as base, expect, type Browser, type Page } from '@playwright/test';

import type { PrivateJwk } from '../../keys/rotation';
import {
  appAddressFromEnv,
  probeAppUrl,
  README_SECTION,
  type AppAddress,
  type ProbeAnswer,
} from '../../scripts/public-app-url';
import { confirmLogout, loginDriverFromEnv, type LoginDriver } from '../support/login-driver';
import { startStack, type Stack } from '../support/stack';

/**
 * The browser suite that applies to any provider (`npm run test:provider`): sign-in through the
 * provider's own login pages, the session and /api/me, /profile showing the assertion that
 * redeemed the code, the flow inspector's checks, sign-out, and — when the provider is set up for
 * them — the client-credentials grant and a key rotation.
 *
 * The app is started here (production build) and configured only by the usual variables
 * (OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_KEY_FILE, OIDC_CLIENT_ASSERTION_*, APP_URL, API_*);
 * the provider side by E2E_USERNAME, E2E_PASSWORD and the login driver (e2e/support/login-driver.ts).
 * APP_URL may be any https URL that reaches this machine through the integrator's reverse proxy
 * or tunnel: the app then listens on http://localhost:E2E_APP_PORT with APP_URL as its public
 * address, and the browser goes to APP_URL (scripts/public-app-url.ts).
 * Optional: E2E_CLIENT_CREDENTIALS=1 (the client may use the client-credentials grant for
 * API_RESOURCE / API_SCOPE), E2E_KEY_ROTATION=1 (the provider reads the app's jwks_uri; the
 * rotation waits E2E_JWKS_CACHE_SECONDS, default 65, for the provider's cache).
 */

type Settings = {
  /** APP_URL's origin: where the browser goes. */
  readonly appUrl: string;
  readonly address: AppAddress;
  readonly issuer: string;
  readonly clientId: string;
  readonly keyFile: string;
  readonly username: string;
  readonly password: string;
  /** The app's own settings, passed through as they are. */
  readonly appEnv: Readonly<Record<string, string>>;
};

function readSettings(): Settings {
  const env = process.env;
  const missing = ['OIDC_ISSUER', 'OIDC_CLIENT_KEY_FILE', 'E2E_USERNAME', 'E2E_PASSWORD'].filter(
    (name) => !env[name]?.trim(),
  );
  if (missing.length > 0) {
    throw new Error(
      `npm run test:provider needs ${missing.join(', ')} (see README, "${README_SECTION}")`,
    );
  }
  const appEnv = Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && /^(OIDC_|API_|SESSION_SECRET$)/.test(entry[0]),
    ),
  );
  const address = appAddressFromEnv(env);
  return {
    appUrl: address.appUrl,
    address,
    issuer: env.OIDC_ISSUER?.trim() ?? '',
    clientId: env.OIDC_CLIENT_ID?.trim() || 'client_using_jwt',
    keyFile: env.OIDC_CLIENT_KEY_FILE?.trim() ?? '',
    username: env.E2E_USERNAME ?? '',
    password: env.E2E_PASSWORD ?? '',
    appEnv,
  };
}

const settings = readSettings();

/** The app alone, pointed at the external provider, listening on loopback, told APP_URL. */
async function startApp(extra: Record<string, string> = {}): Promise<Stack> {
  return startStack({
    appPort: settings.address.listenPort,
    providerPort: 0,
    withoutProvider: true,
    appEnv: { ...settings.appEnv, APP_URL: settings.appUrl, ...extra },
  });
}

/** A GET by the browser (its resolver, its certificate checks), in a context of its own. */
async function browserGet(browser: Browser, url: string, timeoutMs: number): Promise<ProbeAnswer> {
  const context = await browser.newContext();
  try {
    const response = await (await context.newPage()).goto(url, { timeout: timeoutMs });
    if (!response) return { error: 'no response' };
    return { status: response.status(), body: await response.text() };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] ?? String(err) };
  } finally {
    await context.close();
  }
}

const test = base.extend<{ login: LoginDriver }, { app: Stack; discovery: Discovery }>({
  app: [
    async ({ browser }, use) => {
      // Behind a proxy or tunnel: prove that APP_URL reaches the port this run listens on, before
      // the app is started (and the tests fail in the provider's pages for a tunnel that is down).
      if (settings.address.proxied)
        await probeAppUrl(settings.address, (url, timeoutMs) =>
          browserGet(browser, url, timeoutMs),
        );
      const app = await startApp();
      await use(app);
      await app.stop();
    },
    { scope: 'worker' },
  ],
  discovery: [
    async ({}, use) => {
      const url = `${settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      await use((await (await fetch(url)).json()) as Discovery);
    },
    { scope: 'worker' },
  ],
  login: async ({}, provide) => provide(await loginDriverFromEnv()),
});

type Discovery = { issuer: string; token_endpoint: string; end_session_endpoint?: string };

test.describe.configure({ mode: 'serial' });

/** The app's sign-in, the provider's pages, back at `returnTo`. */
async function signIn(page: Page, login: LoginDriver, returnTo = '/profile'): Promise<void> {
  await page.goto(`${settings.appUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
  expect(page.url().startsWith(settings.appUrl), 'the app sent the browser to the provider').toBe(
    false,
  );
  await login(page, {
    username: settings.username,
    password: settings.password,
    appUrl: settings.appUrl,
  });
  await page.waitForURL((url) => url.href.startsWith(settings.appUrl));
  if (page.url().includes('/auth/error')) {
    const code = await page.getByTestId('error-code').textContent();
    const said = await page
      .getByTestId('oauth-error')
      .textContent()
      .catch(() => '');
    throw new Error(`the sign-in failed: ${code} ${said ?? ''} (npm run doctor says why)`);
  }
  await page.waitForURL(`${settings.appUrl}${returnTo}`);
}

/**
 * A same-origin GET from the page, with its cookies: through APP_URL as the browser reaches it
 * (Playwright's own request client would resolve and verify APP_URL itself).
 */
async function inBrowserGet(page: Page, path: string): Promise<{ status: number; body: string }> {
  return page.evaluate(async (target) => {
    const response = await fetch(target, { credentials: 'same-origin' });
    return { status: response.status, body: await response.text() };
  }, path);
}

/** The audience the app's assertion carries under the current settings. */
function expectedAudience(discovery: Discovery): string {
  const configured = settings.appEnv.OIDC_CLIENT_ASSERTION_AUDIENCE?.trim();
  if (!configured || configured === 'issuer') return discovery.issuer;
  if (configured === 'token_endpoint') return discovery.token_endpoint;
  return configured;
}

/** The kids the app publishes (asked where it listens: the tests' own process may not reach APP_URL). */
async function publishedKids(app: Stack): Promise<string[]> {
  const response = await fetch(`${app.localUrl}/.well-known/jwks.json`);
  return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
}

test('signs in through the provider’s own login pages: the session, /api/me, /profile and the inspector', async ({
  page,
  app,
  discovery,
  login,
}) => {
  await signIn(page, login);
  const me = await inBrowserGet(page, '/api/me');
  expect(me.status).toBe(200);
  const claims = JSON.parse(me.body) as { sub?: string; iss?: string };
  expect(claims.sub).toBeTruthy();
  // The session cookie as the app sets it for APP_URL (Secure and __Host- on https), whatever the
  // app listens on behind a proxy.
  const https = settings.appUrl.startsWith('https:');
  const session = (await page.context().cookies(settings.appUrl)).find((c) =>
    /^(__Host-)?rp_session$/.test(c.name),
  );
  expect(session, 'the session cookie').toMatchObject({
    name: https ? '__Host-rp_session' : 'rp_session',
    secure: https,
    httpOnly: true,
    path: '/',
  });

  // The assertion that redeemed the code, as /profile shows it.
  const header = page.getByTestId('assertion-header');
  const payload = page.getByTestId('assertion-payload');
  await expect(payload.locator('tr[data-claim="iss"] td.value')).toHaveText(settings.clientId);
  await expect(payload.locator('tr[data-claim="sub"] td.value')).toHaveText(settings.clientId);
  await expect(payload.locator('tr[data-claim="aud"] td.value')).toHaveText(
    expectedAudience(discovery),
  );
  await expect(payload.locator('tr[data-claim="jti"] td.value')).not.toBeEmpty();
  await expect(header.locator('tr[data-claim="kid"] td.value')).toHaveText(
    (await publishedKids(app))[0] ?? '',
  );
  // As lib/config.ts: typed by default only with the issuer as audience.
  const typ = settings.appEnv.OIDC_CLIENT_ASSERTION_TYP?.trim().toLowerCase();
  const audience = settings.appEnv.OIDC_CLIENT_ASSERTION_AUDIENCE?.trim();
  const typed =
    typ === undefined || typ === ''
      ? !audience || audience === 'issuer'
      : ['1', 'true', 'on', 'yes'].includes(typ);
  if (!typed) await expect(header.locator('tr[data-claim="typ"]')).toHaveCount(0);
  else
    await expect(header.locator('tr[data-claim="typ"] td.value')).toHaveText(
      'client-authentication+jwt',
    );

  // The flow inspector: no check of this sign-in failed.
  await page.goto(`${app.appUrl}/inspector`);
  await expect(page.getByTestId('timeline')).toBeVisible();
  await expect(page.getByTestId('id-token-checks').locator('tr')).toHaveCount(14);
  await expect(page.locator('table.checks tr[data-outcome="fail"]')).toHaveCount(0);
  expect(
    app.appLog().filter((line) => line.includes('sign-in failed')),
    'no failed sign-in in the app log',
  ).toEqual([]);
});

test('signs out: the session ends here, and at the provider when it has an end_session_endpoint', async ({
  page,
  app,
  discovery,
  login,
}) => {
  await signIn(page, login, '/');
  await page.getByRole('button', { name: 'Sign out' }).first().click();
  if (discovery.end_session_endpoint) await confirmLogout(page, settings.appUrl);
  await page.waitForURL(`${app.appUrl}/`);
  await expect(page.getByTestId('signed-out')).toBeVisible();
  expect((await inBrowserGet(page, '/api/me')).status).toBe(401);
});

test('client credentials: a token for the API, accepted by the API', async ({
  page,
  app,
  login,
}) => {
  test.skip(
    process.env.E2E_CLIENT_CREDENTIALS !== '1',
    'E2E_CLIENT_CREDENTIALS=1 when the client may use the client-credentials grant for API_RESOURCE',
  );
  // /machine lends the app's identity: signed-in users only (lib/machine-access.ts).
  await signIn(page, login, '/machine');
  await expect(page).toHaveURL(`${app.appUrl}/machine`);
  await page.getByTestId('machine-run').click();
  await expect(page.getByTestId('api-status')).toHaveText('200');
  const assertion = page.getByTestId('assertion-payload');
  await expect(assertion.locator('tr[data-claim="iss"] td.value')).toHaveText(settings.clientId);
});

async function signInAndReadKid(browser: Browser, login: LoginDriver): Promise<string> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await signIn(page, login);
    return (
      (await page
        .getByTestId('assertion-header')
        .locator('tr[data-claim="kid"] td.value')
        .textContent()) ?? ''
    );
  } finally {
    await context.close();
  }
}

test('a key rotation while the app runs, when the provider reads the app’s jwks_uri', async ({
  browser,
  app,
  login,
}) => {
  test.skip(
    process.env.E2E_KEY_ROTATION !== '1',
    'E2E_KEY_ROTATION=1 when the provider reads this app’s jwks_uri (rotation waits for its cache)',
  );
  const cacheSeconds = Number(process.env.E2E_JWKS_CACHE_SECONDS ?? 65);
  test.setTimeout((cacheSeconds + 120) * 1000);
  // A copy of the configured key, as a JWK Set the key tool can rotate: the original stays as is.
  const dir = mkdtempSync(join(tmpdir(), 'rp-rotation-'));
  const source = join(dir, 'source');
  copyFileSync(settings.keyFile, source);
  const file = join(dir, 'rotation.private.jwks.json');
  const keyTool = (...args: string[]) =>
    execFileSync(process.execPath, ['--import', 'tsx', 'keys/cli.ts', ...args], {
      encoding: 'utf8',
      stdio: 'pipe',
      env: { ...process.env, NODE_ENV: 'test' },
    });
  keyTool('import', source, '--file', file);
  await app.stop();
  const rotating = await startApp({ OIDC_CLIENT_KEY_FILE: file });
  try {
    const [a] = await publishedKids(rotating);
    expect(await signInAndReadKid(browser, login)).toBe(a);
    keyTool('rotate', '--file', file);
    const rotatedAt = Date.now();
    const keys = () => (JSON.parse(readFileSync(file, 'utf8')) as { keys: PrivateJwk[] }).keys;
    const b = keys()[1]?.kid;
    await expect.poll(() => publishedKids(rotating), { timeout: 10_000 }).toEqual([a, b]);
    expect(await signInAndReadKid(browser, login)).toBe(a);
    // B must be published longer than the provider keeps the JWKS it fetched before B existed.
    await new Promise((done) => setTimeout(done, rotatedAt + cacheSeconds * 1000 - Date.now()));
    keyTool('promote', '--file', file, '--force');
    await expect.poll(() => publishedKids(rotating), { timeout: 10_000 }).toEqual([b, a]);
    expect(await signInAndReadKid(browser, login)).toBe(b);
  } finally {
    await rotating.stop();
  }
});
