import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { APIResponse, BrowserContext, Page } from '@playwright/test';
import { Redis } from 'ioredis';
import { generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';

import { ALICE, expect, submitLogin, test } from './fixtures';
import { startRedisServer, type RedisServer } from './support/redis-server';
import { startSessionStack, type AppInstance, type SessionStack } from './support/session-stack';

/**
 * Sessions that live: the user's own access token, refreshed with a fresh assertion, logout both
 * ways, and many instances on Redis. Real parts only: the bundled provider, the production build
 * of the app (two instances on two ports, which share the browser's cookies), a real
 * redis-server, Chromium. Grants are counted from the provider's one-line-per-token-request log.
 *
 * User access tokens live PROVIDER_ACCESS_TOKEN_TTL = 30 s here, so the app refreshes them once
 * 15 s are left (half their lifetime, as they live less than a minute).
 */

// The two groups below (each in order) start stacks of their own on free ports: they may run on
// both workers at once.
test.describe.configure({ mode: 'parallel' });

const TTL_SECONDS = 30;
/** A JWT in compact form: what must never reach the browser. */
const COMPACT_JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

type MessagesAnswer = {
  caller: { sub: string; client_id: string; scope: string };
  token: { iat: number; exp: number };
};

async function signInAt(page: Page, stack: SessionStack, app: AppInstance): Promise<void> {
  await page.goto(`${app.url}/auth/login?returnTo=/profile`);
  await expect(page).toHaveURL(new RegExp(`^${stack.issuer}/interaction/`));
  const loginUrl = page.url();
  await submitLogin(page, ALICE);
  await page.waitForURL(
    (url) =>
      url.href !== loginUrl &&
      (url.href.startsWith(app.url) || url.pathname.startsWith('/interaction/')),
  );
  if (page.url().startsWith(stack.issuer))
    await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(`${app.url}/profile`);
  await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
}

/**
 * After a sign-in was started at `app`: the provider may ask for the password again, or only for
 * consent, or for nothing; answers whatever it asks until the browser is back at `app`.
 */
async function passProvider(page: Page, app: AppInstance): Promise<void> {
  const username = page.getByLabel('Username');
  const allow = page.getByRole('button', { name: 'Allow' });
  for (let step = 0; step < 3 && !page.url().startsWith(app.url); step++) {
    await expect(username.or(allow).first()).toBeVisible();
    const before = page.url();
    if (await username.isVisible()) await submitLogin(page, ALICE);
    else await allow.click();
    await page.waitForURL((url) => url.href !== before);
  }
  expect(page.url()).toMatch(new RegExp(`^${app.url}/`));
}

async function readMessages(response: APIResponse): Promise<MessagesAnswer> {
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as MessagesAnswer;
}

async function sessionCookie(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === 'rp_session');
  expect(cookie, 'a session cookie').toBeTruthy();
  return `rp_session=${cookie?.value ?? ''}`;
}

/** Waits until the token issued at `iat` is within the refresh margin (15 s of a 30 s life). */
async function waitForRefreshWindow(page: Page, iat: number): Promise<void> {
  const due = (iat + TTL_SECONDS / 2 + 1.5) * 1000;
  const wait = due - Date.now();
  if (wait > 0) await page.waitForTimeout(wait);
}

/** Signs out at the provider itself (its end_session_endpoint): it sends the Logout Token. */
async function signOutAtProvider(page: Page, stack: SessionStack): Promise<void> {
  await page.goto(`${stack.issuer}/session/end`);
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await expect(page.getByRole('heading', { name: 'Signed out' })).toBeVisible();
}

test.describe('two app instances on one Redis', () => {
  test.describe.configure({ mode: 'serial' });
  let redis: RedisServer;
  let stack: SessionStack;
  let a: AppInstance;
  let b: AppInstance;

  test.beforeAll(async () => {
    redis = await startRedisServer({ persist: true });
    stack = await startSessionStack({
      instances: 2,
      redisUrl: redis.url,
      providerEnv: { PROVIDER_ACCESS_TOKEN_TTL: String(TTL_SECONDS) },
    });
    [a, b] = stack.instances as [AppInstance, AppInstance];
  });
  test.afterAll(async () => {
    const logs = (stack?.instances ?? []).flatMap((app) => app.log());
    await stack?.stop();
    await redis?.remove();
    expect(findTokensInLog(logs)).toEqual([]);
  });

  test('signed in on one instance, signed in on the other; the API call as the user refreshes once, lazily', async ({
    page,
  }) => {
    await signInAt(page, stack, a);
    await page.goto(`${b.url}/profile`);
    await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
    expect(stack.countGrants('authorization_code')).toBe(1);
    expect(stack.countGrants('refresh_token')).toBe(0);

    const first = await page.request.get(`${a.url}/api/me/messages`);
    expect(first.headers()['x-token-source']).toBe('refreshed');
    const answer = await readMessages(first);
    expect(answer.caller).toEqual({ sub: 'alice', client_id: 'client_using_jwt', scope: 'api1' });
    expect(answer.token.exp - answer.token.iat).toBe(TTL_SECONDS);
    const second = await page.request.get(`${b.url}/api/me/messages`);
    expect(second.headers()['x-token-source']).toBe('store');
    expect((await readMessages(second)).token).toEqual(answer.token);
    expect(stack.countGrants('refresh_token')).toBe(1);
    // Every refresh authenticated with private_key_jwt, the assertion's aud the issuer.
    const refreshes = stack
      .providerLog()
      .filter((l) => l.startsWith('[op] token grant_type=refresh_token'));
    expect(refreshes).toHaveLength(1);
    for (const line of refreshes) {
      expect(line).toContain('auth=private_key_jwt');
      expect(line).toContain(`aud=${stack.issuer} `);
      expect(line).toContain(`resource=${stack.apiResource} `);
    }
  });

  test('the /profile button shows the call (request, token claims, answer); no token reaches the browser', async ({
    page,
  }) => {
    await signInAt(page, stack, a);
    const bodies: string[] = [];
    page.on('response', async (response) => {
      if (response.url().startsWith(b.url)) bodies.push(await response.text().catch(() => ''));
    });
    await page.goto(`${b.url}/profile`);
    await page.getByTestId('user-api-run').click();
    await expect(page.getByTestId('user-api-status')).toHaveText('200');
    await expect(page.getByTestId('user-api-request')).toContainText(`GET ${b.url}/api/messages`);
    const payload = page.getByTestId('user-token-payload');
    await expect(payload.locator('tr[data-claim="sub"] td.value')).toHaveText('alice');
    await expect(payload.locator('tr[data-claim="aud"] td.value')).toHaveText(stack.apiResource);
    await expect(payload.locator('tr[data-claim="scope"] td.value')).toHaveText('api1');
    await expect(
      page.getByTestId('user-token-header').locator('tr[data-claim="typ"] td.value'),
    ).toHaveText('at+jwt');
    await expect(page.getByTestId('user-api-body')).toContainText('"sub": "alice"');
    expect(bodies.length).toBeGreaterThan(0);
    for (const body of bodies) expect(body).not.toMatch(COMPACT_JWT);
    expect(await page.content()).not.toMatch(COMPACT_JWT);
  });

  test('at expiry, 20 concurrent calls over both instances make exactly one refresh grant', async ({
    page,
  }) => {
    await signInAt(page, stack, a);
    const before = await readMessages(await page.request.get(`${b.url}/api/me/messages`));
    await waitForRefreshWindow(page, before.token.iat);
    const grants = stack.countGrants('refresh_token');
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        page.request.get(`${(i % 2 === 0 ? a : b).url}/api/me/messages`),
      ),
    );
    const answers = await Promise.all(responses.map(readMessages));
    expect(stack.countGrants('refresh_token') - grants).toBe(1);
    const issued = new Set(answers.map((x) => x.token.iat));
    expect(issued.size, 'every call got the one new token').toBe(1);
    expect([...issued][0]).toBeGreaterThan(before.token.iat);
    const sources = responses.map((r) => r.headers()['x-token-source']);
    expect(sources.filter((s) => s === 'refreshed')).toHaveLength(1);
    // No refresh token was ever presented twice: the provider would have refused it.
    expect(stack.providerLog().filter((l) => l.includes('outcome=invalid_grant'))).toEqual([]);
  });

  test('a back-channel logout delivered to one instance ends the session on both; replay gets nothing', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, a);
    await readMessages(await page.request.get(`${b.url}/api/me/messages`));
    const cookie = await sessionCookie(context);
    const endedBefore = a.count('back-channel logout by=sid');
    await signOutAtProvider(page, stack);
    await expect.poll(() => a.count('back-channel logout by=sid')).toBe(endedBefore + 1);
    expect(
      a.log().some((l) => /back-channel logout by=sid sub=alice sessions_ended=[1-9]/.test(l)),
    ).toBe(true);
    for (const app of [a, b]) {
      expect((await page.request.get(`${app.url}/api/me`)).status()).toBe(401);
      const replayed = await fetch(`${app.url}/api/me`, { headers: { cookie } });
      expect(replayed.status).toBe(401);
      const replayedCall = await fetch(`${app.url}/api/me/messages`, { headers: { cookie } });
      expect(replayedCall.status).toBe(401);
    }
    expect(
      stack.providerLog().some((l) => l.includes('backchannel.logout') && l.includes('delivered')),
    ).toBe(true);
  });

  test('signing out in the app deletes the session everywhere and revokes the refresh token', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, a);
    await readMessages(await page.request.get(`${b.url}/api/me/messages`));
    const cookie = await sessionCookie(context);
    const revoked = a.count('refresh token revoked');
    // Signed out where the provider sends the browser back to (the first instance's APP_URL).
    await page.goto(`${a.url}/`);
    await page.getByRole('main').getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(new RegExp(`^${stack.issuer}/`));
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(`${a.url}/`);
    await expect(page.getByTestId('signed-out')).toBeVisible();
    expect(a.count('refresh token revoked')).toBe(revoked + 1);
    for (const app of [a, b]) {
      const replayed = await fetch(`${app.url}/api/me`, { headers: { cookie } });
      expect(replayed.status).toBe(401);
    }
  });

  test('sessions survive an app restart: the same cookie has its session on the new process', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, a);
    const before = await readMessages(await page.request.get(`${a.url}/api/me/messages`));
    const cookie = await sessionCookie(context);
    const grants = stack.countGrants('refresh_token');
    const signIns = stack.countGrants('authorization_code');

    for (const [index, app] of [a, b].entries()) {
      const pid = app.pid();
      expect(pid, 'a running process').toBeDefined();
      // Stopped by PID, started again on the same port with the same settings.
      await stack.restartInstance(index);
      expect(app.pid(), 'a new process').toBeDefined();
      expect(app.pid()).not.toBe(pid);

      const me = await fetch(`${app.url}/api/me`, { headers: { cookie } });
      expect(me.status, 'the same cookie has its session on the new process').toBe(200);
      expect(((await me.json()) as { sub: string }).sub).toBe('alice');
      const answer = await readMessages(
        await page.request.get(`${app.url}/api/me/messages`, { headers: { cookie } }),
      );
      expect(answer.caller.sub).toBe('alice');
      expect(answer.token, 'the stored API token, not a new one').toEqual(before.token);
      await page.goto(`${app.url}/profile`);
      await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
    }
    expect(stack.countGrants('refresh_token'), 'no refresh was needed').toBe(grants);
    expect(stack.countGrants('authorization_code'), 'no new sign-in').toBe(signIns);
  });

  test('Redis stopped: 503, logged once, nobody signed out; Redis back: it works, nothing lost', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, a);
    const before = await readMessages(await page.request.get(`${a.url}/api/me/messages`));
    const cookie = await sessionCookie(context);
    const outages = [a, b].map((app) => app.count('session store unreachable'));

    await redis.stop();
    for (const app of [a, b]) {
      for (let i = 0; i < 3; i++) {
        const me = await fetch(`${app.url}/api/me`, { headers: { cookie } });
        expect(me.status).toBe(503);
        expect(((await me.json()) as { error: string }).error).toBe('temporarily_unavailable');
        expect((await fetch(`${app.url}/api/me/messages`, { headers: { cookie } })).status).toBe(
          503,
        );
      }
      const profile = await page.goto(`${app.url}/profile`);
      expect(profile?.status()).toBe(503);
      await expect(page.getByTestId('error-code')).toHaveText('session_store_unavailable');
      // Signing out cannot be done now: said so, and the cookie is kept to try again.
      const logout = await page.request.post(`${app.url}/auth/logout`, {
        headers: { origin: app.url },
        maxRedirects: 0,
      });
      expect(logout.status()).toBe(503);
      // A callback that belongs to no sign-in of this browser is refused as ever, store or not:
      // the store check it began beside opening the transaction is dropped, never left unhandled.
      const stray = await fetch(`${app.url}/auth/callback?code=x&state=y`, {
        headers: { cookie },
        redirect: 'manual',
      });
      expect(stray.headers.get('location')).toBe(`${app.url}/auth/error?code=missing_transaction`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const app of [a, b]) expect(app.count(/unhandled/i), 'no unhandled rejection').toBe(0);
    expect([a, b].map((app) => app.count('session store unreachable'))).toEqual(
      outages.map((n) => n + 1),
    );

    // Signing in now: the callback answers 503 (as every route that needs a session does) before
    // it redeems the code, so no tokens are issued for a session that could not be kept, and the
    // browser's session and sign-in transaction stay as they were.
    const signIns = stack.countGrants('authorization_code');
    const answered = page.waitForResponse((r) => r.url().startsWith(`${a.url}/auth/callback?`));
    await page.goto(`${a.url}/auth/login?returnTo=/profile`);
    await passProvider(page, a);
    const callback = await answered;
    expect(callback.status()).toBe(503);
    expect(callback.headers()['cache-control']).toBe('no-store, no-transform');
    await expect(page.getByTestId('error-code')).toHaveText('session_store_unavailable');
    expect(stack.countGrants('authorization_code'), 'the code was not redeemed').toBe(signIns);
    expect(await sessionCookie(context), 'nobody signed out').toBe(cookie);
    expect(
      (await context.cookies()).some((c) => c.name.startsWith('rp_tx_')),
      'the transaction is kept',
    ).toBe(true);

    await redis.start();
    for (const app of [a, b]) {
      await expect
        .poll(async () => (await fetch(`${app.url}/api/me`, { headers: { cookie } })).status, {
          timeout: 15_000,
        })
        .toBe(200);
    }
    const after = await readMessages(await page.request.get(`${b.url}/api/me/messages`));
    expect(after.caller.sub).toBe('alice');
    expect(after.token.iat, 'the same stored token: nothing lost').toBe(before.token.iat);
    await page.goto(`${b.url}/profile`);
    await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
    expect(a.count('session store reachable again')).toBeGreaterThan(0);

    // The callback that answered 503, loaded again: the sign-in completes, its code redeemed once.
    const retried = await page.goto(callback.url());
    await page.waitForURL(`${a.url}/profile`);
    expect(retried?.status()).toBe(200);
    await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
    expect(stack.countGrants('authorization_code')).toBe(signIns + 1);
    expect(await sessionCookie(context), 'a new session').not.toBe(cookie);
  });

  test('Redis frozen during a sign-in callback: 503, no code redeemed, and the old session kept', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, a);
    const cookie = await sessionCookie(context);
    const signIns = stack.countGrants('authorization_code');

    // Frozen (connections open, nothing answers) while a new sign-in comes back: the callback
    // gives up on the store and answers 503. MUST: nothing it sent may change the store once
    // Redis thaws.
    const answered = page.waitForResponse((r) => r.url().startsWith(`${a.url}/auth/callback?`));
    redis.pause();
    let status: number | undefined;
    try {
      await page.goto(`${a.url}/auth/login?returnTo=/profile`);
      await passProvider(page, a);
      status = (await answered).status();
    } finally {
      redis.resume();
    }
    expect(status).toBe(503);
    expect(stack.countGrants('authorization_code'), 'the code was not redeemed').toBe(signIns);
    expect(await sessionCookie(context), 'the cookie is kept').toBe(cookie);
    await expect
      .poll(async () => (await fetch(`${a.url}/api/me`, { headers: { cookie } })).status, {
        timeout: 15_000,
      })
      .toBe(200);
    // Still there a moment later: nothing the frozen server held back ended it.
    await page.waitForTimeout(500);
    expect((await fetch(`${b.url}/api/me`, { headers: { cookie } })).status).toBe(200);
  });

  test('Redis holds writes after the ping: the 503 says the old session may have ended (it has)', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, a);
    const cookie = await sessionCookie(context);
    const signIns = stack.countGrants('authorization_code');
    // Reads (the ping) are answered, writes wait: the removal of the session being replaced is
    // held past the callback's 2 s limit, and carried out once the pause ends (before the
    // client's 4 s socket timeout would close the connection, which would drop it).
    const raw = new Redis(redis.url);
    const answered = page.waitForResponse((r) => r.url().startsWith(`${a.url}/auth/callback?`));
    try {
      await raw.call('CLIENT', 'PAUSE', '3500', 'WRITE');
      await page.goto(`${a.url}/auth/login?returnTo=/profile`);
      await passProvider(page, a);
    } finally {
      raw.disconnect();
    }
    const callback = await answered;
    expect(callback.status()).toBe(503);
    // MUST: not "nobody was signed out": the store may still end that session, and does.
    await expect(page.getByTestId('error-hint')).toContainText('may have ended');
    expect(stack.countGrants('authorization_code'), 'the code was not redeemed').toBe(signIns);
    await expect
      .poll(async () => (await fetch(`${b.url}/api/me`, { headers: { cookie } })).status, {
        timeout: 15_000,
      })
      .toBe(401);

    // The transaction was kept: the same callback, loaded again, completes the sign-in.
    await expect
      .poll(async () => (await page.goto(callback.url()))?.status(), { timeout: 15_000 })
      .toBe(200);
    await page.waitForURL(`${a.url}/profile`);
    await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
    expect(stack.countGrants('authorization_code')).toBe(signIns + 1);
  });

  test('a new sign-in deletes the session it replaces, and so does a failed one: the old cookie gets nothing', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, a);
    const first = await sessionCookie(context);
    // A sign-in that succeeds: the earlier session goes in the same write as the new one.
    await page.goto(`${a.url}/auth/login?returnTo=/profile`);
    await passProvider(page, a);
    await page.waitForURL(`${a.url}/profile`);
    const second = await sessionCookie(context);
    expect(second).not.toBe(first);
    expect((await fetch(`${b.url}/api/me`, { headers: { cookie: first } })).status).toBe(401);
    expect((await fetch(`${b.url}/api/me`, { headers: { cookie: second } })).status).toBe(200);

    // A sign-in that fails after the store was checked (the provider refuses a code that is not
    // its own): no session is left, neither in this browser nor for a copy of its old cookie.
    // Walked hop by hop with the browser's cookies, to change the code on its way back.
    let next = `${a.url}/auth/login?returnTo=/profile`;
    for (let hop = 0; hop < 6 && !next.startsWith(`${a.url}/auth/callback?`); hop++) {
      const reply = await context.request.get(next, { maxRedirects: 0 });
      const location = reply.headers()['location'];
      expect(location, `hop ${hop}: ${reply.status()} ${next}`).toBeTruthy();
      next = new URL(location ?? '', next).href;
    }
    const callback = new URL(next);
    expect(callback.searchParams.get('code')).toBeTruthy();
    callback.searchParams.set('code', 'not-a-code-the-provider-issued');
    const failed = await context.request.get(callback.href, { maxRedirects: 0 });
    expect(failed.headers()['location']).toMatch(/\/auth\/error\?code=/);
    expect((await context.cookies()).some((c) => c.name === 'rp_session')).toBe(false);
    expect((await fetch(`${b.url}/api/me`, { headers: { cookie: second } })).status).toBe(401);
  });

  test('the store lost while a sign-in redeems its code: the session it was to replace is gone too', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, a);
    const old = await sessionCookie(context);
    // Walked hop by hop with the browser's cookies, up to the callback (not yet followed).
    let next = `${a.url}/auth/login?returnTo=/profile`;
    for (let hop = 0; hop < 6 && !next.startsWith(`${a.url}/auth/callback?`); hop++) {
      const reply = await context.request.get(next, { maxRedirects: 0 });
      const location = reply.headers()['location'];
      expect(location, `hop ${hop}: ${reply.status()} ${next}`).toBeTruthy();
      next = new URL(location ?? '', next).href;
    }
    expect(new URL(next).searchParams.get('code')).toBeTruthy();
    const signIns = stack.countGrants('authorization_code');

    // The callback finds the store answering, then waits for the provider's token endpoint
    // (frozen); Redis goes down meanwhile, and the session cannot be saved.
    let status: number | undefined;
    let body = '';
    const revoked = a.count('refresh token revoked');
    stack.pauseProvider();
    try {
      const answer = context.request.get(next, { maxRedirects: 0 });
      await page.waitForTimeout(1000);
      await redis.stop();
      stack.resumeProvider();
      status = (await answer).status();
      body = await (await answer).text();
    } finally {
      stack.resumeProvider();
      await redis.start();
    }
    expect(status).toBe(503);
    // The page tells the truth: this browser's session is gone (its cookie is cleared below).
    expect(body).not.toContain('Nobody was signed out');
    expect(body).toContain('you are signed out');
    expect(a.count('refresh token revoked'), 'the new refresh token dies').toBe(revoked + 1);
    expect(stack.countGrants('authorization_code'), 'the code was redeemed').toBe(signIns + 1);
    expect((await context.cookies()).some((c) => c.name === 'rp_session' && c.value !== '')).toBe(
      false,
    );
    // MUST: a failed sign-in leaves no session behind, for a copy of the old cookie either, once
    // the store is back.
    await expect
      .poll(async () => (await fetch(`${b.url}/api/me`, { headers: { cookie: old } })).status, {
        timeout: 15_000,
      })
      .not.toBe(503);
    expect((await fetch(`${b.url}/api/me`, { headers: { cookie: old } })).status).toBe(401);
  });

  test('the inspector, when the store fails after the session was read: 503, never a 500', async ({
    page,
  }) => {
    await signInAt(page, stack, a);
    await expect((await page.goto(`${a.url}/inspector`))?.status()).toBe(200);
    const raw = new Redis(redis.url);
    try {
      // The session's read (HMGET) still answers; the records' read (HGET) is refused: a store
      // that fails between two commands of one page.
      await raw.call('ACL', 'SETUSER', 'default', '-hget');
      const inspector = await page.goto(`${a.url}/inspector`);
      expect(inspector?.status()).toBe(503);
      await expect(page.getByTestId('error-code')).toHaveText('session_store_unavailable');
    } finally {
      await raw.call('ACL', 'SETUSER', 'default', '+hget');
      await raw.quit();
    }
    await expect
      .poll(async () => (await page.goto(`${a.url}/inspector`))?.status(), { timeout: 15_000 })
      .toBe(200);
    await expect(page.getByTestId('timeline')).toBeVisible();
  });
});

/** No token in the app's log: no compact JWT, no long opaque value (refresh tokens are 43 chars). */
function findTokensInLog(lines: readonly string[]): string[] {
  return lines.filter((line) => COMPACT_JWT.test(line) || /[A-Za-z0-9_-]{43,}/.test(line));
}

test.describe('one instance, sessions in memory (no Redis)', () => {
  test.describe.configure({ mode: 'serial' });
  let stack: SessionStack;
  let app: AppInstance;
  // The provider's signing keys, kept in a file so that the route tests can sign Logout Tokens
  // as the provider would (and forge them as an attacker would).
  const keysDir = mkdtempSync(join(tmpdir(), 'rp-op-keys-'));
  const keysFile = join(keysDir, 'op-keys.json');

  test.beforeAll(async () => {
    stack = await startSessionStack({
      instances: 1,
      providerEnv: {
        PROVIDER_ACCESS_TOKEN_TTL: String(TTL_SECONDS),
        PROVIDER_SIGNING_KEYS_FILE: keysFile,
      },
    });
    [app] = stack.instances as [AppInstance];
  });
  test.afterAll(async () => {
    const logs = app?.log() ?? [];
    await stack?.stop();
    rmSync(keysDir, { recursive: true, force: true });
    expect(findTokensInLog(logs)).toEqual([]);
  });

  test('back-channel logout route: invalid requests 400 no-store, session intact; by sub 200, once', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, app);
    const cookie = await sessionCookie(context);
    const me = async () => (await fetch(`${app.url}/api/me`, { headers: { cookie } })).status;
    const claims = (await (await page.request.get(`${app.url}/api/me`)).json()) as {
      sub: string;
      sid: string;
    };
    expect(claims.sid, 'the ID token carries sid').toBeTruthy();

    const [opJwk] = (JSON.parse(readFileSync(keysFile, 'utf8')) as { keys: JWK[] }).keys;
    if (!opJwk?.kid) throw new Error('no provider signing key');
    const opKey = await importJWK(opJwk, 'RS256');
    const other = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const event = { 'http://schemas.openid.net/event/backchannel-logout': {} };
    const base = (): JWTPayload => ({
      iss: stack.issuer,
      aud: 'client_using_jwt',
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      sub: claims.sub,
      sid: claims.sid,
      events: event,
    });
    const sign = (
      payload: JWTPayload,
      options: { key?: Parameters<SignJWT['sign']>[0]; alg?: string; kid?: string } = {},
    ) =>
      new SignJWT(payload)
        .setProtectedHeader({
          alg: options.alg ?? 'RS256',
          typ: 'logout+jwt',
          kid: options.kid ?? opJwk.kid,
        })
        .sign(options.key ?? opKey);
    const without = (claim: string): JWTPayload => {
      const payload = base();
      delete payload[claim];
      return payload;
    };
    const unsigned = (payload: JWTPayload) =>
      `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'logout+jwt' })).toString('base64url')}.` +
      `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
    const post = (body: string, type = 'application/x-www-form-urlencoded') =>
      fetch(`${app.url}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });
    const form = (token: string) => new URLSearchParams({ logout_token: token }).toString();

    const refused: Array<[string, Promise<Response>]> = [
      ['alg none', post(form(unsigned(base())))],
      ['wrong alg (ES256)', post(form(await sign(base(), { key: ec.privateKey, alg: 'ES256' })))],
      ['bad signature', post(form(await sign(base(), { key: other.privateKey })))],
      ['wrong iss', post(form(await sign({ ...base(), iss: 'https://op.example' })))],
      ['wrong aud', post(form(await sign({ ...base(), aud: 'another-client' })))],
      ['no iat', post(form(await sign(without('iat'))))],
      ['no events', post(form(await sign(without('events'))))],
      ['wrong event', post(form(await sign({ ...base(), events: { 'urn:other': {} } })))],
      ['nonce', post(form(await sign({ ...base(), nonce: 'n-0S6_WzA2Mj' })))],
      ['neither sid nor sub', post(form(await sign({ ...without('sid'), sub: undefined })))],
      ['no jti', post(form(await sign(without('jti'))))],
      [
        'not form-encoded',
        post(JSON.stringify({ logout_token: await sign(base()) }), 'application/json'),
      ],
      ['two logout_token', post(`${form(await sign(base()))}&${form(await sign(base()))}`)],
      ['no logout_token', post('')],
      ['a body of 1 MB', post(`logout_token=${'a'.repeat(1024 * 1024)}`)],
    ];
    for (const [name, pending] of refused) {
      const response = await pending;
      expect(response.status, name).toBe(400);
      expect(response.headers.get('cache-control'), name).toBe('no-store, no-transform');
      const body = (await response.json()) as { error?: unknown; error_description?: unknown };
      expect(typeof body.error, name).toBe('string');
      expect(typeof body.error_description, name).toBe('string');
      expect(await me(), `${name}: the session is intact`).toBe(200);
    }

    // Valid, by sub alone: every session of the user ends.
    const revocations = () => app.count(/refresh token revo(ked|cation failed)/);
    const revokedBefore = revocations();
    const bySub = await sign(without('sid'));
    const accepted = await post(form(bySub));
    expect(accepted.status).toBe(200);
    expect(accepted.headers.get('cache-control')).toBe('no-store, no-transform');
    expect(await me(), 'ended by sub').toBe(401);
    // After answering, the app revokes the ended session's refresh token (§2.7), and the provider
    // ends its grant with it. A provider that sends this logout has ended that grant already; here
    // the test sent it, so it waits for the revocation before signing in again (the new sign-in
    // would otherwise reuse the grant, and have its code refused once the revocation lands).
    await expect.poll(revocations).toBeGreaterThan(revokedBefore);

    // Replayed to a new session of the same user: refused, and the new session survives.
    await page.goto(`${app.url}/auth/login?returnTo=/profile`);
    // The provider may ask for the password again, or only for consent, or for nothing.
    const signedIn = page.getByTestId('profile-sub');
    const username = page.getByLabel('Username');
    const allow = page.getByRole('button', { name: 'Allow' });
    for (let step = 0; step < 3; step++) {
      await expect(signedIn.or(username).or(allow).first()).toBeVisible();
      if (await signedIn.isVisible()) break;
      const before = page.url();
      if (await username.isVisible()) await submitLogin(page, ALICE);
      else await allow.click();
      await page.waitForURL((url) => url.href !== before);
    }
    await page.waitForURL(`${app.url}/profile`);
    const again = await sessionCookie(context);
    const replay = await post(form(bySub));
    expect(replay.status).toBe(400);
    expect((await fetch(`${app.url}/api/me`, { headers: { cookie: again } })).status).toBe(200);
  });

  test('the API call as the user, refreshed at expiry once for 20 concurrent calls', async ({
    page,
  }) => {
    await signInAt(page, stack, app);
    const first = await readMessages(await page.request.get(`${app.url}/api/me/messages`));
    expect(first.caller.sub).toBe('alice');
    expect(stack.countGrants('refresh_token')).toBe(1);
    await waitForRefreshWindow(page, first.token.iat);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => page.request.get(`${app.url}/api/me/messages`)),
    );
    const answers = await Promise.all(responses.map(readMessages));
    expect(stack.countGrants('refresh_token')).toBe(2);
    expect(new Set(answers.map((x) => x.token.iat)).size).toBe(1);
  });

  test('a back-channel logout ends the session; the cookie, replayed, gets nothing', async ({
    page,
    context,
  }) => {
    await signInAt(page, stack, app);
    const cookie = await sessionCookie(context);
    await signOutAtProvider(page, stack);
    await expect
      .poll(() => app.count(/back-channel logout by=sid sub=alice sessions_ended=1/))
      .toBe(1);
    expect((await fetch(`${app.url}/api/me`, { headers: { cookie } })).status).toBe(401);
  });

  test('provider down: 503 and the session kept; refresh refused: the session ends and the next page says so', async ({
    page,
  }) => {
    await signInAt(page, stack, app);
    await stack.stopProvider();
    const down = await page.request.get(`${app.url}/api/me/messages`);
    expect(down.status()).toBe(503);
    expect(((await down.json()) as { error: string }).error).toBe('provider_unreachable');
    expect((await page.request.get(`${app.url}/api/me`)).status(), 'still signed in').toBe(200);

    // A new provider process knows no grant: the refresh token is refused (invalid_grant).
    await stack.startProvider();
    const refused = await page.request.get(`${app.url}/api/me/messages`);
    expect(refused.status()).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe('session_expired');
    // Whichever page comes next says why, the home page included (not a silent "signed out").
    await page.goto(`${app.url}/`);
    await expect(page.getByTestId('session-ended')).toContainText('Your session has ended');
    await expect(page.getByTestId('signed-out')).toBeVisible();
    await page.goto(`${app.url}/profile`);
    await expect(page.getByTestId('error-code')).toHaveText('session_expired');
    await expect(page.getByTestId('error-title')).toHaveText('Your session has ended');
    expect((await page.request.get(`${app.url}/api/me`)).status()).toBe(401);
  });
});
