import { test as base, expect, type Page } from '@playwright/test';

import { PORT_BASE, startStack, type Stack } from './support/stack';

/**
 * `stack`: the bundled provider and the app with default settings, started once per worker, on
 * ports of its worker (PORT_BASE + 10 × the worker's slot). Specs that need other settings start
 * their own stacks on ports of their own (PORT_BASE + 1 … 9).
 */
export const test = base.extend<object, { stack: Stack }>({
  stack: [
    async ({}, use, workerInfo) => {
      const appPort = PORT_BASE + 10 * workerInfo.parallelIndex;
      const stack = await startStack({ appPort, providerPort: appPort + 1000 });
      await use(stack);
      await stack.stop();
    },
    { scope: 'worker' },
  ],
});

export { expect };

export const ALICE = { login: 'alice', password: 'alice-password', name: 'Alice Liddell' } as const;
export const BOB = { login: 'bob', password: 'bob-password', name: 'Bob Builder' } as const;

/** Fills in the bundled provider's login form. */
export async function submitLogin(
  page: Page,
  user: { login: string; password: string },
): Promise<void> {
  await page.getByLabel('Username').fill(user.login);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * The user's part at the provider, starting on its login page: log in, then allow when the
 * consent page comes. Leaves the browser on its way back to the app.
 */
export async function authorizeAtProvider(
  page: Page,
  stack: Stack,
  user: { login: string; password: string },
): Promise<void> {
  await expect(page).toHaveURL(new RegExp(`^${stack.issuer}/interaction/`));
  const loginUrl = page.url();
  await submitLogin(page, user);
  await page.waitForURL(
    (url) =>
      url.href !== loginUrl &&
      (url.href.startsWith(stack.appUrl) || url.pathname.startsWith('/interaction/')),
  );
  if (page.url().startsWith(stack.issuer))
    await page.getByRole('button', { name: 'Allow' }).click();
}

/**
 * Signs in through the browser: the app's sign-in route, the provider's login page, consent when
 * asked, back to `returnTo` on the app.
 */
export async function signIn(
  page: Page,
  stack: Stack,
  user: { login: string; password: string },
  returnTo = '/profile',
): Promise<void> {
  await page.goto(`${stack.appUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
  await authorizeAtProvider(page, stack, user);
  await page.waitForURL(`${stack.appUrl}${returnTo}`);
}

/**
 * Runs the sign-in up to the provider's redirect back, and returns that callback URL without
 * letting the browser visit it (the browser's cookies, the transaction included, are kept).
 */
export async function captureCallback(
  page: Page,
  stack: Stack,
  user: { login: string; password: string },
): Promise<URL> {
  await page.goto(`${stack.appUrl}/auth/login?returnTo=/profile`);
  const loginUrl = page.url();
  await submitLogin(page, user);
  await page.waitForURL((url) => url.href !== loginUrl);
  const action = await page.locator('form[action$="/confirm"]').getAttribute('action');
  expect(action).toBeTruthy();
  let location = new URL(action ?? '', stack.issuer).href;
  let method: 'post' | 'get' = 'post';
  for (let hop = 0; hop < 5; hop++) {
    const response = await page.request[method](location, { maxRedirects: 0 });
    const next = response.headers().location;
    expect(next, `redirect expected from ${location}`).toBeTruthy();
    const url = new URL(next ?? '', location);
    if (url.href.startsWith(`${stack.appUrl}/auth/callback`)) return url;
    location = url.href;
    method = 'get';
  }
  throw new Error('the provider did not redirect back to the app');
}
