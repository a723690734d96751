import { expect, test } from './fixtures';

/**
 * Machine to machine in the browser, against the bundled provider and the production build:
 * /machine gets a token with the client-credentials grant and calls the protected API from the
 * server; the API itself refuses what it must over real HTTP.
 */

test.describe.configure({ mode: 'serial' });

test(
  '/machine, reached from /, gets a JWT access token with a client assertion and ' +
    'the API accepts it; the second run uses the cache',
  async ({ page, stack }) => {
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
  expect(bare.headers()['cache-control']).toBe('no-store');

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
