import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { Locator, Page } from '@playwright/test';

/**
 * The user's part at a provider the suite does not know: log in on its own pages, consent when
 * asked, come back to the app. Used by `npm run test:provider` (e2e/any-provider/).
 *
 * The default driver works for common login forms: a username (or email) field, a password
 * field, a submit button, on one page or on two (identifier first: the username page, then the
 * password page), then an optional consent page. Each selector can be replaced, or the whole
 * driver, by a module of your own:
 *
 *   E2E_LOGIN_USERNAME_SELECTOR  the username / email field
 *   E2E_LOGIN_PASSWORD_SELECTOR  the password field
 *   E2E_LOGIN_SUBMIT_SELECTOR    the button that submits the login form
 *   E2E_LOGIN_CONSENT_SELECTOR   the button that grants consent (`none`: never click one)
 *   E2E_LOGOUT_CONFIRM_SELECTOR  the button that confirms sign-out at the provider
 *   E2E_LOGIN_DRIVER             a module (path) whose default export replaces the login:
 *                                `export default async function (page, { username, password,
 *                                appUrl }) { … }` — it starts on the provider's first page and
 *                                ends when the browser is on its way back to appUrl.
 *
 * Selectors are Playwright selectors: CSS (a comma-separated list matches any), with Playwright's
 * `:has-text()` / `:text-matches()`, or one `text=…` / `role=…` selector.
 */

export type LoginInput = {
  readonly username: string;
  readonly password: string;
  /** The app's origin: the login is over when the browser comes back there. */
  readonly appUrl: string;
};

export type LoginDriver = (page: Page, input: LoginInput) => Promise<void>;

export type LoginSelectors = {
  readonly username: string;
  readonly password: string;
  readonly submit: string;
  /** Undefined: never click a consent button. */
  readonly consent: string | undefined;
  readonly logoutConfirm: string;
};

/** Fields and buttons of the login forms most providers render. */
export const DEFAULT_SELECTORS: LoginSelectors = {
  username: [
    'input[autocomplete="username"]',
    'input[type="email"]',
    'input[name="username"]',
    'input[name="login"]',
    'input[name="email"]',
    'input[name="loginfmt"]',
    'input[name="identifier"]',
    'input#username',
  ].join(', '),
  password: 'input[type="password"]',
  submit: [
    'button[type="submit"]',
    'input[type="submit"]',
    'button[name="action"]',
    'button:text-matches("^(sign in|log in|login|next|continue|submit)$", "i")',
  ].join(', '),
  consent: [
    'button:text-matches("^(allow|accept|yes|authorize|approve|consent|continue)$", "i")',
    'input[type="submit"][value="Allow" i]',
    'input[type="submit"][value="Yes" i]',
  ].join(', '),
  logoutConfirm: [
    'button:text-matches("^(yes, sign me out|yes|sign out|log out|logout)$", "i")',
    'input[type="submit"][value="Yes" i]',
  ].join(', '),
};

/** The selectors, with those the environment overrides. */
export function selectorsFromEnv(env: NodeJS.ProcessEnv = process.env): LoginSelectors {
  const consent = env.E2E_LOGIN_CONSENT_SELECTOR?.trim();
  return {
    username: env.E2E_LOGIN_USERNAME_SELECTOR?.trim() || DEFAULT_SELECTORS.username,
    password: env.E2E_LOGIN_PASSWORD_SELECTOR?.trim() || DEFAULT_SELECTORS.password,
    submit: env.E2E_LOGIN_SUBMIT_SELECTOR?.trim() || DEFAULT_SELECTORS.submit,
    consent: consent === 'none' ? undefined : consent || DEFAULT_SELECTORS.consent,
    logoutConfirm: env.E2E_LOGOUT_CONFIRM_SELECTOR?.trim() || DEFAULT_SELECTORS.logoutConfirm,
  };
}

const STEP_TIMEOUT_MS = 15_000;

const backAtApp = (page: Page, appUrl: string) => page.url().startsWith(appUrl);

/** The first visible element of `locator`, once one is visible. */
async function firstVisible(locator: Locator, timeout = STEP_TIMEOUT_MS): Promise<Locator> {
  const first = locator.filter({ visible: true }).first();
  await first.waitFor({ state: 'visible', timeout });
  return first;
}

/** Clicks the form's submit button, or presses Enter in `field` when none is found. */
async function submit(page: Page, selectors: LoginSelectors, field: Locator): Promise<void> {
  const button = page.locator(selectors.submit).filter({ visible: true }).first();
  if (await button.count()) await button.click();
  else await field.press('Enter');
}

/** Waits until the page left `url` (or came back to the app). */
async function waitForNavigation(page: Page, url: string, appUrl: string): Promise<void> {
  await page.waitForURL((u) => u.href !== url || u.href.startsWith(appUrl), {
    timeout: STEP_TIMEOUT_MS,
  });
}

/**
 * The default login: username and password on one page or two, then consent while the provider
 * asks for it, until the browser is back at the app.
 */
export function createDefaultLoginDriver(selectors: LoginSelectors): LoginDriver {
  return async (page, input) => {
    const username = await firstVisible(page.locator(selectors.username));
    await username.fill(input.username);
    const password = page.locator(selectors.password).filter({ visible: true }).first();
    if (!(await password.count())) {
      // Identifier first: the password comes on the next page.
      await submit(page, selectors, username);
    }
    const passwordField = await firstVisible(page.locator(selectors.password));
    await passwordField.fill(input.password);
    const loginUrl = page.url();
    await submit(page, selectors, passwordField);
    await waitForNavigation(page, loginUrl, input.appUrl);
    // Consent (and "stay signed in?"-style questions): click while the provider asks.
    for (let step = 0; step < 3 && !backAtApp(page, input.appUrl); step++) {
      if (!selectors.consent) break;
      const here = page.url();
      const button = await firstVisible(page.locator(selectors.consent)).catch(() => undefined);
      if (!button) break;
      await button.click();
      await waitForNavigation(page, here, input.appUrl);
    }
    await page.waitForURL((u) => u.href.startsWith(input.appUrl), { timeout: STEP_TIMEOUT_MS });
  };
}

/** The driver the environment asks for: a module of its own, or the default one. */
export async function loginDriverFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoginDriver> {
  const file = env.E2E_LOGIN_DRIVER?.trim();
  if (!file) return createDefaultLoginDriver(selectorsFromEnv(env));
  const path = isAbsolute(file) ? file : resolve(file);
  const loaded = (await import(pathToFileURL(path).href)) as { default?: unknown };
  if (typeof loaded.default !== 'function')
    throw new Error(`E2E_LOGIN_DRIVER: ${path} has no default export function (page, input)`);
  return loaded.default as LoginDriver;
}

/**
 * After the app's sign-out sent the browser to the provider: confirm there when asked, until the
 * browser is back at the app.
 */
export async function confirmLogout(
  page: Page,
  appUrl: string,
  selectors: LoginSelectors = selectorsFromEnv(),
): Promise<void> {
  for (let step = 0; step < 3 && !backAtApp(page, appUrl); step++) {
    const here = page.url();
    const button = await firstVisible(page.locator(selectors.logoutConfirm), 5_000).catch(
      () => undefined,
    );
    if (!button) break;
    await button.click();
    await waitForNavigation(page, here, appUrl);
  }
  await page.waitForURL((u) => u.href.startsWith(appUrl), { timeout: STEP_TIMEOUT_MS });
}
