import type { Agent } from 'node:http';

import { CookieJar, get, postForm, type Reply } from './http';

/**
 * One user's sign-in, hop by hop, as a browser makes it, each hop timed:
 *
 *   GET  RP /auth/login        → redirect to the provider's authorization endpoint
 *   GET  provider /auth?…      → (signed in at the provider already) redirect to the callback
 *   GET  RP /auth/callback?…   → the RP redeems the code, checks, seals the session; redirect
 *   GET  RP /api/me            → 200, the user's claims, read from the session
 *
 * The first sign-in of each virtual user goes through the provider's login and consent forms
 * ({@link signInInteractively}); every measured one after it is "warm" ({@link signInWarm}): the
 * provider remembers the user and answers the authorization request with a redirect at once.
 */

export type Account = { readonly login: string; readonly password: string };

/** A browser: its cookies for the relying party and for the provider. */
export type VirtualUser = { readonly rp: CookieJar; readonly op: CookieJar };

export type Agents = { readonly rp: Agent | false; readonly op: Agent | false };

export type StepTimes = {
  readonly login: number;
  readonly authorize: number;
  readonly callback: number;
  readonly me: number;
  readonly total: number;
};

export type Step = keyof Omit<StepTimes, 'total'>;

/** A sign-in that did not end with the user's claims, and where it went wrong. */
export class SignInFailure extends Error {
  constructor(
    readonly step: Step,
    detail: string,
  ) {
    super(`${step}: ${detail}`);
  }
}

export function createVirtualUser(): VirtualUser {
  return { rp: new CookieJar(), op: new CookieJar() };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function describeReply(reply: Reply): string {
  return `${reply.status}${reply.location ? ` → ${reply.location.slice(0, 120)}` : ''} ${reply.body.slice(0, 160)}`;
}

function expectRedirect(step: Step, reply: Reply, base: URL): URL {
  if (!REDIRECTS.has(reply.status) || !reply.location)
    throw new SignInFailure(step, `expected a redirect, got ${describeReply(reply)}`);
  return new URL(reply.location, base);
}

function isCallback(url: URL, rp: URL): boolean {
  return url.origin === rp.origin && url.pathname === '/auth/callback';
}

function formAction(html: string, suffix: string): string | undefined {
  return new RegExp(`action="(/interaction/[^"]+/${suffix})"`).exec(html)?.[1];
}

/**
 * The provider's part: from the authorization request to the redirect back to the RP. With
 * `account`, fills in the login and consent forms on the way; without, any form is a failure
 * (a warm login must not need one).
 */
async function passProvider(
  authorizationUrl: URL,
  rp: URL,
  user: VirtualUser,
  agent: Agent | false,
  account?: Account,
): Promise<URL> {
  let url = authorizationUrl;
  let form: URLSearchParams | undefined;
  for (let hop = 0; hop < 12; hop++) {
    const reply = form ? await postForm(url, form, user.op, agent) : await get(url, user.op, agent);
    form = undefined;
    if (REDIRECTS.has(reply.status) && reply.location) {
      const next = new URL(reply.location, url);
      if (isCallback(next, rp)) return next;
      url = next;
      continue;
    }
    if (!account) throw new SignInFailure('authorize', `not a warm login: ${describeReply(reply)}`);
    const login = formAction(reply.body, 'login');
    const confirm = formAction(reply.body, 'confirm');
    if (login) {
      url = new URL(login, url);
      form = new URLSearchParams({ login: account.login, password: account.password });
    } else if (confirm) {
      url = new URL(confirm, url);
      form = new URLSearchParams();
    } else {
      throw new SignInFailure('authorize', `unexpected provider page: ${describeReply(reply)}`);
    }
  }
  throw new SignInFailure('authorize', 'too many hops at the provider');
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
}

/** Checks that `/api/me` answered the claims of `sub`. */
function expectClaims(reply: Reply, sub: string): void {
  if (reply.status !== 200)
    throw new SignInFailure('me', `expected 200, got ${describeReply(reply)}`);
  let claims: unknown;
  try {
    claims = JSON.parse(reply.body);
  } catch {
    throw new SignInFailure('me', `not JSON: ${reply.body.slice(0, 120)}`);
  }
  if ((claims as { sub?: unknown }).sub !== sub)
    throw new SignInFailure('me', `claims of another subject: ${reply.body.slice(0, 120)}`);
}

async function signIn(
  rp: URL,
  user: VirtualUser,
  agents: Agents,
  sub: string,
  account?: Account,
): Promise<StepTimes> {
  const started = performance.now();
  const [start, login] = await timed(() => get(new URL('/auth/login', rp), user.rp, agents.rp));
  const authorizationUrl = expectRedirect('login', start, rp);
  if (authorizationUrl.origin === rp.origin)
    throw new SignInFailure('login', `redirected within the RP: ${describeReply(start)}`);
  const [callbackUrl, authorize] = await timed(() =>
    passProvider(authorizationUrl, rp, user, agents.op, account),
  );
  const [done, callback] = await timed(() => get(callbackUrl, user.rp, agents.rp));
  const landing = expectRedirect('callback', done, rp);
  if (landing.origin !== rp.origin || landing.pathname.startsWith('/auth/'))
    throw new SignInFailure('callback', `sign-in failed: ${describeReply(done)}`);
  const [claims, me] = await timed(() => get(new URL('/api/me', rp), user.rp, agents.rp));
  expectClaims(claims, sub);
  return { login, authorize, callback, me, total: performance.now() - started };
}

/** A first sign-in through the provider's forms; leaves the user signed in at the provider. */
export function signInInteractively(
  rp: URL,
  user: VirtualUser,
  agents: Agents,
  account: Account,
): Promise<StepTimes> {
  return signIn(rp, user, agents, account.login, account);
}

/** A measured sign-in of a user the provider already knows (no form at the provider). */
export function signInWarm(
  rp: URL,
  user: VirtualUser,
  agents: Agents,
  sub: string,
): Promise<StepTimes> {
  return signIn(rp, user, agents, sub);
}

/** `GET /api/me` for a signed-in user, timed. */
export async function readMe(
  rp: URL,
  user: VirtualUser,
  agent: Agent | false,
  sub: string,
): Promise<number> {
  const [reply, ms] = await timed(() => get(new URL('/api/me', rp), user.rp, agent));
  expectClaims(reply, sub);
  return ms;
}

/**
 * `GET /bare` on the peer's build, timed: an empty route handler that no proxy runs before (204),
 * so its time is what Next.js alone costs a request.
 */
export async function readBare(rp: URL, agent: Agent | false): Promise<number> {
  const [reply, ms] = await timed(() => get(new URL('/bare', rp), undefined, agent));
  if (reply.status !== 204)
    throw new SignInFailure('me', `bare route: expected 204, got ${describeReply(reply)}`);
  return ms;
}

/**
 * `GET /api/me` without a session, timed: a request that reaches the route and does no session
 * work (401), so its time is the cost of the stack itself (HTTP, routing, headers).
 */
export async function readSignedOut(rp: URL, agent: Agent | false): Promise<number> {
  const [reply, ms] = await timed(() => get(new URL('/api/me', rp), undefined, agent));
  if (reply.status !== 401)
    throw new SignInFailure('me', `signed out: expected 401, got ${describeReply(reply)}`);
  return ms;
}
