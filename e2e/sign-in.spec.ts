import type { Browser, BrowserContext, Cookie, Page } from '@playwright/test';

import {
  MAX_PENDING_TRANSACTIONS_LENGTH,
  MAX_SEALED_TRANSACTION_LENGTH,
  transactionCookieName,
} from '../lib/transaction';
import {
  ALICE,
  authorizeAtProvider,
  BOB,
  captureCallback,
  expect,
  signIn,
  submitLogin,
  test,
} from './fixtures';
import type { Stack } from './support/stack';

/**
 * Browser sign-in against the bundled provider: the happy path, sign-out at both ends, and the
 * failures that must end on the error page with no session.
 */

test.describe.configure({ mode: 'serial' });

test('alice signs in; /profile shows her and an assertion whose aud is the issuer', async ({
  page,
  stack,
}) => {
  await page.goto(stack.appUrl);
  await expect(page.getByTestId('signed-out')).toBeVisible();
  await page.getByRole('link', { name: 'Sign in' }).first().click();
  await expect(page).toHaveURL(new RegExp(`^${stack.issuer}/interaction/`));
  await expect(page.getByText('alice-password')).toBeVisible();
  const loginUrl = page.url();
  await submitLogin(page, ALICE);
  await page.waitForURL((url) => url.href !== loginUrl);
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(`${stack.appUrl}/profile`);

  await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
  const payload = page.getByTestId('assertion-payload');
  await expect(payload.locator('tr[data-claim="aud"] td.value')).toHaveText(stack.issuer);
  await expect(payload.locator('tr[data-claim="iss"] td.value')).toHaveText('client_using_jwt');
  await expect(payload.locator('tr[data-claim="sub"] td.value')).toHaveText('client_using_jwt');
  await expect(payload.locator('tr[data-claim="jti"] td.value')).not.toBeEmpty();
  const header = page.getByTestId('assertion-header');
  await expect(header.locator('tr[data-claim="typ"] td.value')).toHaveText(
    'client-authentication+jwt',
  );
  const jwks = (await (await page.request.get(`${stack.appUrl}/.well-known/jwks.json`)).json()) as {
    keys: Array<Record<string, unknown>>;
  };
  expect(jwks.keys.length).toBeGreaterThan(0);
  for (const jwk of jwks.keys) {
    expect(jwk).toMatchObject({ kid: expect.any(String), alg: 'RS256', use: 'sig', kty: 'RSA' });
    // Never a private member (RFC 7518 §6.3.2: d, p, q, dp, dq, qi; §6.4: k).
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])
      expect(jwk).not.toHaveProperty(member);
  }
  await expect(header.locator('tr[data-claim="kid"] td.value')).toHaveText(
    String(jwks.keys[0]?.kid),
  );
  await expect(page.getByTestId('userinfo').locator('tr[data-claim="email"] td.value')).toHaveText(
    'alice@example.com',
  );

  const me = await page.request.get(`${stack.appUrl}/api/me`);
  expect(me.status()).toBe(200);
  const claims = (await me.json()) as Record<string, unknown>;
  expect(claims.sub).toBe('alice');
  expect(claims.name).toBe(ALICE.name);
});

test('signing out ends the session here and at the provider', async ({ page, stack }) => {
  await signIn(page, stack, ALICE);
  await page.goto(stack.appUrl);
  await page.getByRole('button', { name: 'Sign out' }).first().click();
  // RP-initiated logout: the provider asks for confirmation, then returns to the app.
  await expect(page).toHaveURL(new RegExp(`^${stack.issuer}/`));
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await page.waitForURL(`${stack.appUrl}/`);
  await expect(page.getByTestId('signed-out')).toBeVisible();
  expect((await page.request.get(`${stack.appUrl}/api/me`)).status()).toBe(401);

  // The provider's session is gone too: signing in again asks for the password.
  await page.goto(`${stack.appUrl}/auth/login?returnTo=/profile`);
  await expect(page.getByLabel('Password')).toBeVisible();
});

test('a denied consent ends on the error page without a session', async ({ page, stack }) => {
  await page.goto(`${stack.appUrl}/auth/login?returnTo=/profile`);
  const loginUrl = page.url();
  await submitLogin(page, ALICE);
  await page.waitForURL((url) => url.href !== loginUrl);
  await page.getByRole('button', { name: 'Deny' }).click();
  await page.waitForURL(`${stack.appUrl}/auth/error?code=authorization_error`);
  await expect(page.getByTestId('error-code')).toHaveText('authorization_error');
  await expect(page.getByTestId('oauth-error')).toHaveText('access_denied');
  expect((await page.request.get(`${stack.appUrl}/api/me`)).status()).toBe(401);
});

test('a replayed callback URL ends on the error page, is never redeemed, and leaves the session alone', async ({
  page,
  stack,
}) => {
  let callback: string | undefined;
  page.on('request', (request) => {
    if (request.url().startsWith(`${stack.appUrl}/auth/callback?`)) callback ??= request.url();
  });
  await signIn(page, stack, ALICE);
  expect(callback).toBeDefined();
  expect((await page.request.get(`${stack.appUrl}/api/me`)).status()).toBe(200);
  const grants = () => stack.providerLog().filter((l) => /grant\.(success|error)/.test(l)).length;
  const grantsBefore = grants();

  await page.goto(callback ?? '');
  await expect(page).toHaveURL(`${stack.appUrl}/auth/error?code=missing_transaction`);
  await expect(page.getByTestId('error-code')).toHaveText('missing_transaction');
  // The replay matched no sign-in of this browser: it neither reached the token endpoint nor
  // ended the session.
  expect(grants()).toBe(grantsBefore);
  expect((await page.request.get(`${stack.appUrl}/api/me`)).status()).toBe(200);
});

test('a link to /auth/callback while signed in does not sign the user out', async ({
  page,
  stack,
}) => {
  await signIn(page, stack, ALICE);
  for (const query of ['', '?code=x&state=y', '?error=access_denied', '?state=a&state=b']) {
    await page.goto(`${stack.appUrl}/auth/callback${query}`);
    await expect(page).toHaveURL(`${stack.appUrl}/auth/error?code=missing_transaction`);
    const me = await page.request.get(`${stack.appUrl}/api/me`);
    expect(me.status(), query).toBe(200);
    expect(((await me.json()) as { sub: string }).sub).toBe('alice');
  }
  await page.goto(`${stack.appUrl}/profile`);
  await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
});

/** Who /api/me says is signed in, in `page`'s browser. */
async function readSignedInSub(page: Page, stack: Stack): Promise<string | undefined> {
  const me = await page.request.get(`${stack.appUrl}/api/me`);
  return me.status() === 200 ? ((await me.json()) as { sub: string }).sub : undefined;
}

/** How many sign-ins the app has logged as failed so far. */
function countSignInFailures(stack: Stack): number {
  return stack.appLog().filter((l) => l.includes('sign-in failed')).length;
}

/** The transaction cookies of sign-ins pending in `context`. */
async function pendingTransactions(context: BrowserContext, stack: Stack): Promise<Cookie[]> {
  return (await context.cookies(stack.appUrl)).filter((c) => c.name.startsWith('rp_tx_'));
}

/** Two tabs of a new browser that have each started a sign-in: A for /profile, B for /. */
async function startTwoSignIns(
  browser: Browser,
  stack: Stack,
): Promise<{ context: BrowserContext; tabA: Page; tabB: Page }> {
  const context = await browser.newContext();
  try {
    const tabA = await context.newPage();
    const tabB = await context.newPage();
    await tabA.goto(`${stack.appUrl}/auth/login?returnTo=/profile`);
    await tabB.goto(`${stack.appUrl}/auth/login?returnTo=/`);
    return { context, tabA, tabB };
  } catch (error) {
    await context.close();
    throw error;
  }
}

test('two tabs sign in at once: A starts, B starts, A completes, B completes; both succeed', async ({
  browser,
  stack,
}) => {
  const { context, tabA, tabB } = await startTwoSignIns(browser, stack);
  try {
    expect(
      await pendingTransactions(context, stack),
      'one transaction cookie per sign-in',
    ).toHaveLength(2);
    const failuresBefore = countSignInFailures(stack);

    await authorizeAtProvider(tabA, stack, ALICE);
    await tabA.waitForURL(`${stack.appUrl}/profile`);
    await expect(tabA.getByTestId('profile-sub')).toHaveText(ALICE.name);
    expect(await readSignedInSub(tabA, stack)).toBe('alice');

    await authorizeAtProvider(tabB, stack, BOB);
    await tabB.waitForURL(`${stack.appUrl}/`);
    await expect(tabB.getByTestId('signed-in-user')).toHaveText(BOB.name);
    // B's sign-in, a valid one of this browser, replaced A's session.
    expect(await readSignedInSub(tabA, stack)).toBe('bob');
    expect(await pendingTransactions(context, stack)).toEqual([]);
    expect(countSignInFailures(stack)).toBe(failuresBefore);
  } finally {
    await context.close();
  }
});

test('two tabs sign in at once: B completes first, then A’s late callback also signs in', async ({
  browser,
  stack,
}) => {
  const { context, tabA, tabB } = await startTwoSignIns(browser, stack);
  try {
    const failuresBefore = countSignInFailures(stack);

    await authorizeAtProvider(tabB, stack, BOB);
    await tabB.waitForURL(`${stack.appUrl}/`);
    await expect(tabB.getByTestId('signed-in-user')).toHaveText(BOB.name);
    expect(await readSignedInSub(tabB, stack)).toBe('bob');

    // A's callback arrives late: it belongs to a sign-in this browser started, so it completes
    // and replaces B's session rather than failing or leaving none.
    await authorizeAtProvider(tabA, stack, ALICE);
    await tabA.waitForURL(`${stack.appUrl}/profile`);
    await expect(tabA.getByTestId('profile-sub')).toHaveText(ALICE.name);
    expect(await readSignedInSub(tabB, stack)).toBe('alice');
    await tabB.reload();
    await expect(tabB.getByTestId('signed-in-user')).toHaveText(ALICE.name);
    expect(countSignInFailures(stack)).toBe(failuresBefore);
  } finally {
    await context.close();
  }
});

test('no more than five sign-ins pend in one browser: a sixth drops the oldest', async ({
  page,
  context,
  stack,
}) => {
  const states: string[] = [];
  for (let i = 0; i < 6; i++) {
    const response = await page.request.get(`${stack.appUrl}/auth/login?returnTo=/profile`, {
      maxRedirects: 0,
    });
    expect(response.status()).toBe(303);
    states.push(new URL(response.headers().location ?? '').searchParams.get('state') ?? '');
    // Creation times are whole seconds: keep the first one apart from the rest.
    if (i === 0) await new Promise((resolve) => setTimeout(resolve, 1100));
  }
  const pending = await pendingTransactions(context, stack);
  expect(pending).toHaveLength(5);
  expect(pending.map((c) => c.name)).not.toContain(transactionCookieName(states[0] ?? '', ''));
  for (const state of states.slice(1))
    expect(pending.map((c) => c.name)).toContain(transactionCookieName(state, ''));
  const length = pending.reduce((sum, c) => sum + c.name.length + c.value.length + 1, 0);
  expect(length).toBeLessThanOrEqual(MAX_PENDING_TRANSACTIONS_LENGTH);
  for (const cookie of pending) {
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Lax');
    expect(cookie.path).toBe('/');
    expect(cookie.value.length).toBeLessThanOrEqual(MAX_SEALED_TRANSACTION_LENGTH);
    // Short-lived: ten minutes.
    expect(cookie.expires * 1000 - Date.now()).toBeLessThanOrEqual(600_000);
    expect(cookie.expires * 1000 - Date.now()).toBeGreaterThan(500_000);
  }
});

test('a callback with a wrong state ends on the error page, without a session, and the code is never redeemed', async ({
  page,
  context,
  stack,
}) => {
  const real = await captureCallback(page, stack, ALICE);
  const transaction = (await context.cookies(stack.appUrl)).find(
    (c) => c.name === transactionCookieName(real.searchParams.get('state') ?? '', ''),
  );
  expect(transaction).toBeDefined();

  const forged = new URL(real);
  forged.searchParams.set('state', 'forged-state');
  await page.goto(forged.href);
  await expect(page).toHaveURL(`${stack.appUrl}/auth/error?code=state_mismatch`);
  await expect(page.getByTestId('error-code')).toHaveText('state_mismatch');
  expect((await page.request.get(`${stack.appUrl}/api/me`)).status()).toBe(401);

  // The genuine response, with its transaction restored, still signs in: the forged callback
  // never reached the token endpoint, so the code was still unused.
  await context.addCookies([transaction!]);
  await page.goto(real.href);
  await page.waitForURL(`${stack.appUrl}/profile`);
  expect((await page.request.get(`${stack.appUrl}/api/me`)).status()).toBe(200);
});
