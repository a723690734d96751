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

/** The ways a prefetch announces itself: browsers (legacy and current), and Next.js's router. */
const PREFETCHES: ReadonlyArray<readonly [string, Record<string, string>]> = [
  ['Purpose: prefetch', { purpose: 'prefetch' }],
  ['Sec-Purpose: prefetch', { 'sec-purpose': 'prefetch' }],
  ['Next-Router-Prefetch (RSC)', { 'next-router-prefetch': '1', rsc: '1' }],
];

/** The nonce of a CSP's script-src, without quotes and prefix. */
function findScriptNonce(csp: string | null): string | undefined {
  const source = parseDirectives(csp)
    .get('script-src')
    ?.find((s) => s.startsWith("'nonce-"));
  return source?.slice("'nonce-".length, -1);
}

test('prefetches get a CSP like any request, and a prefetched document’s scripts carry its nonce', async () => {
  const agent = new HttpAgent();
  expect((await signIn(stack.appUrl, op, {}, agent)).kind).toBe('session');
  for (const path of ['/', '/profile']) {
    for (const [label, headers] of PREFETCHES) {
      let r = await agent.request(`${stack.appUrl}${path}`, { headers });
      const what = `${path}, ${label}`;
      // An RSC request without the router's cache-busting `_rsc` parameter is sent where it has
      // one: a response too, and with the same headers.
      expect(findScriptNonce(r.headers.get('content-security-policy')), what).toBeTruthy();
      if (r.status === 307 && r.location?.startsWith(`${stack.appUrl}${path}?_rsc=`))
        r = await agent.request(r.location, { headers });
      expect(r.status, what).toBe(200);
      const nonce = findScriptNonce(r.headers.get('content-security-policy'));
      expect(nonce, `${what}: a CSP with a nonce`).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      expect(
        parseDirectives(r.headers.get('content-security-policy')).get('frame-ancestors'),
      ).toEqual(["'none'"]);
      if (r.headers.get('content-type')?.startsWith('text/html')) {
        // The document the browser will show: each of its scripts runs only with this nonce.
        const scripts = r.body.match(/<script\b[^>]*>/g) ?? [];
        expect(scripts.length, what).toBeGreaterThan(0);
        for (const tag of scripts) expect(tag, what).toContain(` nonce="${nonce}"`);
      }
    }
  }
});

test('with an https APP_URL, every response carries HSTS, prefetches included', async () => {
  const port = PORT_BASE + 6;
  const https = await startStack({
    appPort: port,
    providerPort: op.port,
    withoutProvider: true,
    // Served over plain http on loopback; the app believes it is behind https (TLS terminated
    // in front of it), which is what decides its cookies and HSTS.
    appEnv: { OIDC_ISSUER: op.issuer, APP_URL: `https://localhost:${port}` },
  });
  try {
    const agent = new HttpAgent();
    const paths = [
      '/',
      '/profile',
      '/machine',
      '/auth/error?code=state_mismatch',
      '/auth/login?returnTo=/profile',
      '/auth/callback?code=x&state=y',
      '/api/me',
      '/api/messages',
      '/.well-known/jwks.json',
      '/no-such-page',
    ];
    for (const path of paths) {
      for (const [label, headers] of [['plain', {}] as const, ...PREFETCHES]) {
        const r = await agent.request(`http://localhost:${port}${path}`, { headers });
        expect(r.status, `${path}, ${label}`).toBeLessThan(500);
        expect(r.headers.get('strict-transport-security'), `${path}, ${label}`).toBe(
          'max-age=31536000',
        );
      }
    }
  } finally {
    await https.stop();
  }
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

test('small JSON answers go out as they are, even to a client that accepts gzip; pages are compressed', async () => {
  // What a browser sends: Next.js would gzip any body for it (lib/cache-control.ts).
  const headers = { 'accept-encoding': 'gzip, deflate, br, zstd' };
  const agent = new HttpAgent();
  const signedOut = await agent.request(`${stack.appUrl}/api/me`, { headers });
  expect(signedOut.status).toBe(401);
  expect(JSON.parse(signedOut.body)).toMatchObject({ error: 'unauthenticated' });
  expect(signedOut.headers.get('content-encoding')).toBeNull();
  expect(signedOut.headers.get('cache-control')).toBe('no-store, no-transform');
  expect((await signIn(stack.appUrl, op, {}, agent)).kind).toBe('session');
  const me = await agent.request(`${stack.appUrl}/api/me`, { headers });
  expect(me.status).toBe(200);
  expect(JSON.parse(me.body)).toMatchObject({ sub: op.user.sub });
  expect(me.headers.get('content-encoding')).toBeNull();
  expect(me.headers.get('cache-control')).toBe('no-store, no-transform');
  const page = await agent.request(`${stack.appUrl}/profile`, { headers });
  expect(page.status).toBe(200);
  expect(page.body).toContain(op.user.sub);
  expect(page.headers.get('content-encoding')).toMatch(/^(?:gzip|br|deflate)$/);
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

test('in a browser, prefetched documents and router prefetches run under their CSP with no violation', async ({
  page,
}) => {
  const watch = await watchPage(page);
  const prefetched = new Map<string, string | null>();
  page.on('response', (response) => {
    const headers = response.request().headers();
    if (headers['next-router-prefetch'] || /prefetch/.test(headers['sec-purpose'] ?? ''))
      prefetched.set(response.url(), response.headers()['content-security-policy'] ?? null);
  });
  await page.goto(`${stack.appUrl}/`);
  await page.getByRole('link', { name: 'Sign in' }).first().click();
  await page.waitForURL(`${stack.appUrl}/profile`);
  await expectHydrated(page);

  // The browser prefetches a document (speculation rules; Chromium sends Sec-Purpose, not the
  // legacy Purpose header checked over HTTP above), then navigates to it: it shows the prefetched
  // response, headers included. (Request interception would turn such prefetches off.)
  for (const [from, to] of [
    ['/profile', '/'],
    ['/', '/profile'],
  ] as const) {
    expect(new URL(page.url()).pathname).toBe(from);
    await page.evaluate((url) => {
      const rules = document.createElement('script');
      rules.type = 'speculationrules';
      rules.nonce = document.querySelector<HTMLScriptElement>('script[nonce]')?.nonce ?? '';
      rules.textContent = JSON.stringify({ prefetch: [{ source: 'list', urls: [url] }] });
      document.head.append(rules);
    }, to);
    await expect.poll(() => prefetched.has(`${stack.appUrl}${to}`)).toBe(true);
    const nonce = findScriptNonce(prefetched.get(`${stack.appUrl}${to}`) ?? null);
    expect(nonce, `the prefetched ${to} has a CSP with a nonce`).toBeTruthy();
    await page.evaluate((url) => {
      location.href = url;
    }, to);
    await page.waitForURL(`${stack.appUrl}${to}`);
    expect(
      await page.evaluate(
        () =>
          (
            performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming & {
              deliveryType?: string;
            }
          ).deliveryType,
      ),
      `${to} came from the prefetch`,
    ).toBe('navigational-prefetch');
    await expectHydrated(page);
    const nonces = await page.evaluate(() => [...document.scripts].map((s) => s.nonce));
    expect(new Set(nonces), `${to}: its scripts carry the prefetched policy's nonce`).toEqual(
      new Set([nonce]),
    );
  }
  await expect(page.getByTestId('profile-sub')).toHaveText(String(op.user.name));

  // Next.js's router prefetches the pages its links lead to (an RSC payload), and navigates
  // without loading a document.
  await page.goto(`${stack.appUrl}/profile`);
  await expectHydrated(page);
  const home = `${stack.appUrl}/?_rsc=`;
  await expect.poll(() => [...prefetched.keys()].some((url) => url.startsWith(home))).toBe(true);
  for (const [url, csp] of prefetched)
    if (url.startsWith(home)) expect(findScriptNonce(csp), url).toBeTruthy();
  await page.getByRole('link', { name: 'private_key_jwt RP' }).click();
  await page.waitForURL(`${stack.appUrl}/`);
  await expect(page.getByTestId('signed-in-user')).toBeVisible();

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
