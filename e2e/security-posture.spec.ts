import { expect, test, type Page } from '@playwright/test';

import { HttpAgent } from './support/http-agent';
import { findLeaks, listRunSecrets } from './support/log-scan';
import { MisbehavingProvider } from './support/misbehaving-provider';
import { signIn } from './support/sign-in-driver';
import { PORT_BASE, startStack, type Stack } from './support/stack';

/**
 * Security posture of the running production app: response headers (a nonce-based CSP the pages
 * work with, nosniff, Referrer-Policy, frame protection), no-store on what shows tokens or claims,
 * provider text rendered only as text, and logs free of secrets. The CSP is checked in a real
 * browser: every page renders and hydrates, and not one violation is reported.
 */

let op: MisbehavingProvider;
let stack: Stack;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  op = await MisbehavingProvider.start({ port: PORT_BASE + 1005, issuerPath: '/op' });
  stack = await startStack({
    appPort: PORT_BASE + 5,
    providerPort: op.port,
    withoutProvider: true,
    appEnv: { OIDC_ISSUER: op.issuer },
  });
});

test.afterAll(async () => {
  await stack?.stop();
  await op?.stop();
});

function parseDirectives(csp: string | null): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of (csp ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) map.set(name, values);
  }
  return map;
}

test('every response carries the security headers; the CSP nonce is fresh per response', async () => {
  const agent = new HttpAgent();
  expect((await signIn(stack.appUrl, op, {}, agent)).kind).toBe('session');
  const paths = [
    '/',
    '/profile',
    '/inspector',
    '/auth/error?code=state_mismatch',
    '/api/me',
    '/auth/login?returnTo=/profile',
    '/auth/callback?code=x&state=y',
    '/.well-known/jwks.json',
    '/api/messages',
    '/no-such-page',
  ];
  const nonces = new Set<string>();
  for (const path of paths) {
    const r = await agent.request(`${stack.appUrl}${path}`);
    expect(r.status, path).toBeLessThan(500);
    expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
    expect(r.headers.get('x-frame-options'), path).toBe('DENY');
    expect(r.headers.get('referrer-policy'), path).toBe(
      path.startsWith('/auth/callback') ? 'no-referrer' : 'same-origin',
    );
    const csp = parseDirectives(r.headers.get('content-security-policy'));
    expect(csp.get('frame-ancestors'), path).toEqual(["'none'"]);
    expect(csp.get('object-src'), path).toEqual(["'none'"]);
    expect(csp.get('base-uri'), path).toEqual(["'none'"]);
    expect(csp.get('default-src'), path).toEqual(["'self'"]);
    expect(csp.get('form-action'), path).toEqual(["'self'", op.origin]);
    const scripts = csp.get('script-src') ?? [];
    expect(scripts, path).toContain("'strict-dynamic'");
    expect(scripts.join(' '), path).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    const nonce = scripts.find((s) => s.startsWith("'nonce-"));
    expect(nonce, path).toMatch(/^'nonce-[A-Za-z0-9+/]{22}=='$/);
    nonces.add(nonce ?? '');
    expect(r.headers.get('strict-transport-security'), 'no HSTS on plain-http loopback').toBeNull();
  }
  expect(nonces.size).toBe(paths.length);
  // Static assets: nosniff matters most there.
  const home = await agent.request(`${stack.appUrl}/`);
  const asset = /\/_next\/static\/[^"]+\.js/.exec(home.body)?.[0];
  expect(asset).toBeTruthy();
  const script = await agent.request(`${stack.appUrl}${asset}`);
  expect(script.headers.get('x-content-type-options')).toBe('nosniff');
  expect(script.headers.get('content-type')).toMatch(/javascript/);
});

test('pages and API responses that show tokens or claims are never stored', async () => {
  const agent = new HttpAgent();
  expect((await signIn(stack.appUrl, op, {}, agent)).kind).toBe('session');
  for (const path of [
    '/profile',
    '/inspector',
    '/',
    '/api/me',
    '/auth/error?code=id_token_invalid',
  ]) {
    const r = await agent.request(`${stack.appUrl}${path}`);
    expect(r.status, path).toBe(200);
    expect(r.headers.get('cache-control') ?? '', path).toMatch(/\bno-store\b/);
  }
  const profile = await agent.request(`${stack.appUrl}/profile`);
  expect(profile.body).toContain(op.user.sub);
});

/** Records CSP violations and script errors on every document `page` loads, before its scripts run. */
async function watchPage(page: Page): Promise<{ problems: string[]; violations: string[] }> {
  const problems: string[] = [];
  const violations: string[] = [];
  page.on('console', (message) => {
    const text = message.text();
    // The browser's own note about the deliberate 404 below is not a problem of the page.
    if (/Failed to load resource: .* 404/.test(text)) return;
    if (message.type() === 'error' || /Content Security Policy/i.test(text))
      problems.push(`${page.url()}: console ${message.type()}: ${text}`);
  });
  page.on('pageerror', (error) => problems.push(`${page.url()}: page error: ${error.message}`));
  await page.exposeFunction('__reportCspViolation', (violation: string) => {
    violations.push(violation);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { __reportCspViolation: (v: string) => void })
        .__reportCspViolation;
      report(
        `${location.pathname}: ${event.violatedDirective} blocked ` +
          `${event.blockedURI || 'inline'} (${event.sourceFile}:${event.lineNumber})`,
      );
    });
  });
  return { problems, violations };
}

/** The page ran Next's scripts (all carrying the nonce) and React hydrated it. */
async function expectHydrated(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      [document.body, ...document.body.querySelectorAll('*')].some((el) =>
        Object.keys(el).some((k) => k.startsWith('__reactFiber')),
      ),
    undefined,
    {
      timeout: 15_000,
    },
  );
  const scripts = await page.evaluate(() =>
    [...document.scripts].map((s) => ({ src: s.src, nonce: s.nonce })),
  );
  expect(scripts.length).toBeGreaterThan(0);
  expect(scripts.filter((s) => !s.nonce && !s.src)).toEqual([]);
}

test('in a browser, every page renders and hydrates under the CSP with no violation', async ({
  page,
}) => {
  const watch = await watchPage(page);
  await page.goto(`${stack.appUrl}/`);
  await expect(page.getByTestId('signed-out')).toBeVisible();
  await expectHydrated(page);

  // Sign in (the provider approves at once), land on the profile.
  await page.getByRole('link', { name: 'Sign in' }).first().click();
  await page.waitForURL(`${stack.appUrl}/profile`);
  await expect(page.getByTestId('profile-sub')).toHaveText(String(op.user.name));
  await expectHydrated(page);

  await page.goto(`${stack.appUrl}/inspector`);
  await expect(page.getByTestId('timeline')).toBeVisible();
  await expectHydrated(page);

  await page.goto(`${stack.appUrl}/auth/error?code=state_mismatch`);
  await expect(page.getByTestId('error-code')).toHaveText('state_mismatch');
  await expectHydrated(page);

  const missing = await page.goto(`${stack.appUrl}/no-such-page`);
  expect(missing?.status()).toBe(404);
  await expect(page.getByTestId('not-found')).toBeVisible();
  await expectHydrated(page);

  // Sign out: the form posts here, and the redirect to the provider's end_session_endpoint is
  // allowed by form-action.
  await page.goto(`${stack.appUrl}/`);
  await page.getByRole('button', { name: 'Sign out' }).first().click();
  await page.waitForURL(`${stack.appUrl}/`);
  await expect(page.getByTestId('signed-out')).toBeVisible();
  expect(op.endSessionRequests.length).toBeGreaterThan(0);

  expect(watch.violations).toEqual([]);
  expect(watch.problems).toEqual([]);
});

test('in a browser, the CSP blocks injected markup and the app cannot be framed', async ({
  page,
}) => {
  const watch = await watchPage(page);
  await page.goto(`${stack.appUrl}/`);
  await expectHydrated(page);
  // An inline event handler, the usual shape of injected markup, does not run.
  await page.evaluate(() =>
    document.body.insertAdjacentHTML(
      'beforeend',
      '<img src="data:," onload="window.__injected = true">',
    ),
  );
  await expect.poll(() => watch.violations.length).toBeGreaterThan(0);
  expect(
    await page.evaluate(() => (window as unknown as { __injected?: boolean }).__injected),
  ).toBeUndefined();
  expect(watch.violations.join('\n')).toMatch(/script-src/);

  // frame-ancestors 'none' (and X-Frame-Options: DENY): the app refuses to render in a frame of
  // another origin, while a frameable document from that page's origin shows (the control).
  const framed = await page.context().newPage();
  const control = `${op.issuer}/`;
  await framed.goto(control);
  await framed.setContent(
    `<iframe name="control" src="${control}"></iframe><iframe name="app" src="${stack.appUrl}/"></iframe>`,
  );
  const text = async (name: string) =>
    (await framed
      .frame({ name })
      ?.evaluate(() => document.body?.innerText ?? '')
      .catch(() => '')) ?? '';
  expect(await text('control')).toContain('Misbehaving provider');
  expect(await text('app')).not.toContain('Sign in without a client secret');
  expect(framed.frame({ name: 'app' })?.url()).not.toBe(`${stack.appUrl}/`);
  await framed.close();
});

test('in a browser, the provider’s error_description is shown as text, never as markup', async ({
  page,
}) => {
  const watch = await watchPage(page);
  const description =
    '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> & <b>bold</b>';
  op.arm({
    authorizationResponse: (p) => {
      p.delete('code');
      p.set('error', 'access_denied');
      p.set('error_description', description);
    },
  });
  await page.goto(`${stack.appUrl}/auth/login?returnTo=/profile`);
  await page.waitForURL(`${stack.appUrl}/auth/error?code=authorization_error`);
  await expect(page.getByTestId('oauth-error-description')).toHaveText(description);
  await expect(page.locator('main b')).toHaveCount(0);
  expect(
    await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
  ).toBeUndefined();
  expect(watch.violations).toEqual([]);
});

test('the app log holds no token, code, assertion, private key or session secret', () => {
  expect(op.issuedSecrets().length).toBeGreaterThan(10);
  expect(
    findLeaks(stack.appLog(), listRunSecrets(op.issuedSecrets(), stack.sessionSecret)),
  ).toEqual([]);
});
