import { ALICE, authorizeAtProvider, expect, signIn, test } from './fixtures';
import type { Stack } from './support/stack';

/**
 * Machine to machine in the browser, against the bundled provider and the production build:
 * /machine (signed-in users only, page and server action alike) gets a token with the
 * client-credentials grant and calls the protected API from the server; the API itself refuses
 * what it must over real HTTP.
 */

test.describe.configure({ mode: 'serial' });

/** Token requests the provider has logged so far, granted or refused, of any grant type. */
function countTokenRequests(stack: Stack): number {
  return stack.providerLog().filter((line) => /\bgrant\.(success|error)\b/.test(line)).length;
}

test('anonymous: /machine asks for a sign-in and says why, and offers no button', async ({
  page,
  stack,
}) => {
  const response = await page.goto(`${stack.appUrl}/machine`);
  expect(response?.status()).toBe(200);
  const notice = page.getByTestId('machine-sign-in-required');
  await expect(notice).toBeVisible();
  await expect(notice).toContainText('confused deputy');
  await expect(page.getByTestId('machine-run')).toHaveCount(0);
  await notice.getByRole('link', { name: 'Sign in' }).click();
  await authorizeAtProvider(page, stack, ALICE);
  await page.waitForURL(`${stack.appUrl}/machine`);
  await expect(page.getByTestId('machine-run')).toBeVisible();
});

test(
  'anonymous: a POST of the server action, its id taken from a public chunk, is refused and ' +
    'asks the provider for nothing',
  async ({ browser, playwright, stack }) => {
    // A signed-in browser presses the button; the request is stopped before it reaches the app:
    // it shows the action's id and the body a browser sends, nothing more.
    const context = await browser.newContext();
    let action: { headers: Record<string, string>; body: Buffer } | undefined;
    let scripts: string[] = [];
    try {
      const page = await context.newPage();
      await signIn(page, stack, ALICE, '/machine');
      scripts = await page.evaluate(() =>
        [...document.scripts].map((s) => s.src).filter((src) => src.length > 0),
      );
      await page.route(`${stack.appUrl}/machine`, async (route) => {
        const request = route.request();
        if (request.method() === 'POST' && request.headers()['next-action']) {
          action = {
            headers: request.headers(),
            body: request.postDataBuffer() ?? Buffer.alloc(0),
          };
          await route.abort();
        } else {
          await route.continue();
        }
      });
      await page.getByTestId('machine-run').click();
      await expect.poll(() => action !== undefined).toBe(true);
    } finally {
      await context.close();
    }
    const actionId = action?.headers['next-action'] ?? '';
    expect(actionId).toMatch(/^[0-9a-f]{40,}$/);

    const anonymous = await playwright.request.newContext();
    try {
      // Anyone can find the id: it is in a script chunk served to anonymous visitors.
      const chunks = await Promise.all(
        scripts.map(async (src) => (await anonymous.get(src)).text()),
      );
      expect(chunks.some((chunk) => chunk.includes(actionId))).toBe(true);

      const grantsBefore = countTokenRequests(stack);
      const { cookie: _cookie, ...headers } = action?.headers ?? {};
      const replay = await anonymous.post(`${stack.appUrl}/machine`, {
        headers: { ...headers, origin: stack.appUrl },
        data: action?.body,
        maxRedirects: 0,
      });
      expect(replay.status()).toBeLessThan(500);
      const body = await replay.text();
      expect(body).toContain('sign_in_required');
      // Nothing of what the app may read as itself: no assertion, no token, no API answer.
      expect(body).not.toContain('client_using_jwt');
      expect(body).not.toContain('messages');
      expect(body).not.toContain('api1');
      // And the provider was asked for nothing: no token request at all, granted or refused.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(countTokenRequests(stack)).toBe(grantsBefore);
      expect(stack.appLog().some((line) => line.includes('machine call refused'))).toBe(true);
    } finally {
      await anonymous.dispose();
    }
  },
);

test(
  '/machine, reached from /, gets a JWT access token with a client assertion and ' +
    'the API accepts it; the second run uses the cache',
  async ({ page, stack }) => {
    await signIn(page, stack, ALICE);
    const response = await page.goto(stack.appUrl);
    expect(response?.status()).toBe(200);
    await page.getByTestId('machine-link').click();
    await page.waitForURL(`${stack.appUrl}/machine`);
    const machine = await page.request.get(`${stack.appUrl}/machine`);
    expect(machine.headers()['cache-control']).toContain('no-store');

    const tokenRequests = () =>
      stack
        .providerLog()
        .filter((line) => line.includes('grant.success grant_type=client_credentials')).length;
    const before = tokenRequests();
    const actionResponse = page.waitForResponse(
      (r) => r.request().method() === 'POST' && r.url().startsWith(`${stack.appUrl}/machine`),
    );
    await page.getByTestId('machine-run').click();
    // The server action's answer carries the decoded tokens: never stored by a cache either.
    expect((await actionResponse).headers()['cache-control']).toContain('no-store');
    await expect(page.getByTestId('api-status')).toHaveText('200');
    // A new token (one token request) unless an earlier test of this stack left one in the cache.
    const fresh = (await page.getByTestId('token-source').getAttribute('data-from-cache')) === 'no';
    await expect.poll(tokenRequests).toBe(before + (fresh ? 1 : 0));

    // The client assertion: the same RFC 10070 client authentication as sign-in.
    const assertionHeader = page.getByTestId('assertion-header');
    const assertion = page.getByTestId('assertion-payload');
    await expect(assertionHeader.locator('tr[data-claim="typ"] td.value')).toHaveText(
      'client-authentication+jwt',
    );
    await expect(assertion.locator('tr[data-claim="aud"] td.value')).toHaveText(stack.issuer);
    await expect(assertion.locator('tr[data-claim="iss"] td.value')).toHaveText('client_using_jwt');
    await expect(assertion.locator('tr[data-claim="sub"] td.value')).toHaveText('client_using_jwt');
    const assertionJti = await assertion.locator('tr[data-claim="jti"] td.value').textContent();
    expect(assertionJti).toBeTruthy();

    // The access token: RFC 9068 profile, for this API, scope api1, short-lived.
    await expect(
      page.getByTestId('access-token-header').locator('tr[data-claim="typ"] td.value'),
    ).toHaveText('at+jwt');
    const token = page.getByTestId('access-token-payload');
    await expect(token.locator('tr[data-claim="aud"] td.value')).toHaveText(`${stack.appUrl}/api`);
    await expect(token.locator('tr[data-claim="scope"] td.value')).toHaveText('api1');
    await expect(token.locator('tr[data-claim="client_id"] td.value')).toHaveText(
      'client_using_jwt',
    );
    await expect(token.locator('tr[data-claim="iss"] td.value')).toHaveText(stack.issuer);
    const tokenJti = await token.locator('tr[data-claim="jti"] td.value').textContent();
    const iat = Number(
      (await token.locator('tr[data-claim="iat"] td.value').textContent())?.split(' ')[0],
    );
    const exp = Number(
      (await token.locator('tr[data-claim="exp"] td.value').textContent())?.split(' ')[0],
    );
    expect(exp - iat).toBe(300);

    // The API's answer, as the server got it.
    const body = JSON.parse((await page.getByTestId('api-body').textContent()) ?? '{}') as {
      messages: unknown[];
      caller: Record<string, string>;
    };
    expect(body.messages.length).toBeGreaterThan(0);
    expect(body.caller).toEqual({
      client_id: 'client_using_jwt',
      sub: 'client_using_jwt',
      scope: 'api1',
    });

    // Again: the cached token, no new token request, the same assertion shown.
    const firstRun = await page.getByTestId('machine-ran-at').textContent();
    await page.getByTestId('machine-run').click();
    await expect(page.getByTestId('machine-ran-at')).not.toHaveText(firstRun ?? '');
    await expect(page.getByTestId('token-source')).toHaveAttribute('data-from-cache', 'yes');
    await expect(page.getByTestId('api-status')).toHaveText('200');
    await expect(token.locator('tr[data-claim="jti"] td.value')).toHaveText(tokenJti ?? '');
    await expect(assertion.locator('tr[data-claim="jti"] td.value')).toHaveText(assertionJti ?? '');
    expect(tokenRequests()).toBe(before + (fresh ? 1 : 0));

    // The page shows the token decoded; the compact token itself never reaches the browser.
    expect(await page.content()).not.toMatch(
      /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/,
    );
  },
);

test('/api/messages over HTTP: 401 without a token, 401 invalid_token for junk, 400 for two methods', async ({
  request,
  stack,
}) => {
  const api = `${stack.appUrl}/api/messages`;
  const bare = await request.get(api);
  expect(bare.status()).toBe(401);
  expect(bare.headers()['www-authenticate']).toBe(`Bearer realm="${stack.appUrl}/api"`);
  expect(bare.headers()['cache-control']).toBe('no-store, no-transform');

  const junk = await request.get(api, { headers: { authorization: 'Bearer not.a.jwt' } });
  expect(junk.status()).toBe(401);
  expect(junk.headers()['www-authenticate']).toContain('error="invalid_token"');
  expect(((await junk.json()) as { error: string }).error).toBe('invalid_token');

  const basic = await request.get(api, {
    headers: { authorization: 'Basic Y2xpZW50OnNlY3JldA==' },
  });
  expect(basic.status()).toBe(401);
  expect(basic.headers()['www-authenticate']).not.toContain('error=');

  const twice = await request.get(`${api}?access_token=abc`, {
    headers: { authorization: 'Bearer abc' },
  });
  expect(twice.status()).toBe(400);
  expect(twice.headers()['www-authenticate']).toContain('error="invalid_request"');
});
