import { ALICE, captureCallback, expect, signIn, submitLogin, test } from './fixtures';

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

test('a replayed callback URL ends on the error page without a session', async ({
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

  await page.goto(callback ?? '');
  await expect(page).toHaveURL(`${stack.appUrl}/auth/error?code=missing_transaction`);
  await expect(page.getByTestId('error-code')).toHaveText('missing_transaction');
  expect((await page.request.get(`${stack.appUrl}/api/me`)).status()).toBe(401);
});

test('a callback with a wrong state ends on the error page, without a session, and the code is never redeemed', async ({
  page,
  context,
  stack,
}) => {
  const real = await captureCallback(page, stack, ALICE);
  const transaction = (await context.cookies(stack.appUrl)).find((c) => c.name === 'rp_tx');
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
