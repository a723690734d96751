import { ALICE, expect, signIn, test } from './fixtures';

/**
 * The flow inspector against the bundled provider and the production build: the last sign-in as a
 * timeline with every check, the client-credentials request from /machine, nothing of it in the
 * logs or in any cookie, and gone with the session at sign-out. Takes the README's
 * screenshot (written to docs/ with E2E_UPDATE_DOCS=1).
 */

test.describe.configure({ mode: 'serial' });

const COMPACT_JWT = /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;

test('the inspector shows the last sign-in step by step, every check passing, and only to its user', async ({
  page,
  context,
  stack,
}, testInfo) => {
  await page.goto(`${stack.appUrl}/inspector`);
  await expect(page).toHaveURL(new RegExp(`^${stack.issuer}/`), { timeout: 10_000 });

  await page.setViewportSize({ width: 1280, height: 900 });
  await signIn(page, stack, ALICE);
  await page.getByTestId('inspector-link').click();
  await page.waitForURL(`${stack.appUrl}/inspector`);

  // The timeline, with the server-side steps and their timings.
  const timeline = page.getByTestId('timeline');
  await expect(timeline.locator('[data-step="token"]')).toBeVisible();
  await expect(timeline.locator('[data-step="id-token"]')).toBeVisible();
  await expect(timeline.locator('[data-step="userinfo"]')).toBeVisible();
  await expect(page.getByTestId('step-token-ms')).toHaveText(/^\+\d+ ms · \d+ ms · HTTP 200$/);

  // The authorization request as sent, PKCE included.
  const params = page.getByTestId('authorization-params');
  await expect(params.locator('tr[data-claim="client_id"] td.value')).toHaveText(
    'client_using_jwt',
  );
  await expect(params.locator('tr[data-claim="code_challenge_method"] td.value')).toHaveText(
    'S256',
  );
  await expect(params.locator('tr[data-claim="code_challenge"] td.value')).toHaveText(
    /^[A-Za-z0-9_-]{43}$/,
  );
  await expect(params.locator('tr[data-claim="code_verifier"]')).toHaveCount(0);

  // Every check: none failed; the RFC 7523 / RFC 10070 rules and OIDC Core §3.1.3.7 all listed.
  await expect(page.locator('table.checks tr[data-outcome="fail"]')).toHaveCount(0);
  await expect(page.getByTestId('response-checks').locator('tr[data-outcome="pass"]')).toHaveCount(
    3,
  );
  await expect(page.getByTestId('assertion-checks').locator('tr[data-outcome="pass"]')).toHaveCount(
    8,
  );
  await expect(page.getByTestId('id-token-checks').locator('tr')).toHaveCount(14);
  await expect(
    page.getByTestId('id-token-checks').locator('tr[data-outcome="pass"]'),
  ).not.toHaveCount(0);
  await expect(page.getByTestId('userinfo-checks').locator('tr[data-outcome="pass"]')).toHaveCount(
    1,
  );

  // The assertion that redeemed the code, decoded, and the ID token, decoded; the access token
  // (opaque at the bundled provider) by its length only.
  const jwks = (await (await page.request.get(`${stack.appUrl}/.well-known/jwks.json`)).json()) as {
    keys: Array<{ kid: string }>;
  };
  await expect(
    page.getByTestId('inspector-assertion-header').locator('tr[data-claim="kid"] td.value'),
  ).toHaveText(jwks.keys[0]?.kid ?? '');
  await expect(
    page.getByTestId('inspector-assertion-payload').locator('tr[data-claim="aud"] td.value'),
  ).toHaveText(stack.issuer);
  await expect(
    page.getByTestId('inspector-id-token-payload').locator('tr[data-claim="sub"] td.value'),
  ).toHaveText('alice');
  await expect(page.getByTestId('inspector-access-token-opaque')).toBeVisible();
  const html = await page.content();
  expect(html).not.toMatch(COMPACT_JWT);

  // Nothing of it in the logs: the nonce and the assertion's jti appear on the page only.
  const nonce = await params.locator('tr[data-claim="nonce"] td.value').textContent();
  const jti = await page
    .getByTestId('inspector-assertion-payload')
    .locator('tr[data-claim="jti"] td.value')
    .textContent();
  expect(nonce && jti).toBeTruthy();
  const logs = stack.appLog().join('\n');
  expect(logs).not.toContain(nonce);
  expect(logs).not.toContain(jti);

  // The record stays on the server with the session: of the app's cookies, /inspector receives
  // the session's (a sealed id) and the pending transaction of the sign-in abandoned above.
  const ours = (await context.cookies(`${stack.appUrl}/inspector`)).filter((c) =>
    c.name.startsWith('rp_'),
  );
  expect(ours.map((c) => c.name).filter((name) => !name.startsWith('rp_tx_'))).toEqual([
    'rp_session',
  ]);
  expect(Math.max(...ours.map((c) => c.value.length))).toBeLessThan(600);

  await page.screenshot({
    path: process.env.E2E_UPDATE_DOCS
      ? 'docs/flow-inspector.png'
      : testInfo.outputPath('flow-inspector.png'),
    clip: { x: 0, y: 0, width: 1280, height: 1500 },
    fullPage: true,
  });
});

test('a refresh for the API and a client-credentials call appear in the inspector; sign-out forgets all', async ({
  page,
  context,
  stack,
}) => {
  await signIn(page, stack, ALICE);
  // The first call as the user gets the API's token with the refresh grant.
  await page.getByTestId('user-api-run').click();
  await expect(page.getByTestId('user-api-status')).toHaveText('200');
  await page.goto(`${stack.appUrl}/inspector`);
  await expect(page.getByTestId('refresh-record')).toBeVisible();
  await expect(
    page.getByTestId('refresh-params').locator('tr[data-claim="grant_type"] td.value'),
  ).toHaveText('refresh_token');
  await expect(
    page.getByTestId('refresh-assertion-checks').locator('tr[data-outcome="fail"]'),
  ).toHaveCount(0);
  await expect(
    page.getByTestId('refresh-access-token-payload').locator('tr[data-claim="aud"] td.value'),
  ).toHaveText(`${stack.appUrl}/api`);

  await page.goto(`${stack.appUrl}/machine`);
  await page.getByTestId('machine-run').click();
  await expect(page.getByTestId('api-status')).toHaveText('200');
  await page.goto(`${stack.appUrl}/inspector`);
  const machine = page.getByTestId('machine-record');
  await expect(machine).toBeVisible();
  await expect(
    page.getByTestId('machine-params').locator('tr[data-claim="grant_type"] td.value'),
  ).toHaveText('client_credentials');
  await expect(
    page.getByTestId('machine-access-token-payload').locator('tr[data-claim="scope"] td.value'),
  ).toHaveText('api1');
  await expect(
    page.getByTestId('machine-assertion-checks').locator('tr[data-outcome="fail"]'),
  ).toHaveCount(0);
  expect(await page.content()).not.toMatch(COMPACT_JWT);

  await page.getByRole('button', { name: 'Sign out' }).first().click();
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await page.waitForURL(`${stack.appUrl}/`);
  expect(
    (await context.cookies(`${stack.appUrl}/inspector`)).filter((c) => c.name === 'rp_session'),
  ).toEqual([]);
  // The records ended with the session: the next session starts with its own sign-in only.
  await signIn(page, stack, ALICE);
  await page.goto(`${stack.appUrl}/inspector`);
  await expect(page.getByTestId('timeline')).toBeVisible();
  await expect(page.getByTestId('refresh-record')).toHaveCount(0);
  await expect(page.getByTestId('machine-record')).toHaveCount(0);
});
