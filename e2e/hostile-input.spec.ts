import { randomBytes } from 'node:crypto';

import { expect, test } from '@playwright/test';
import { sealData, unsealData } from 'iron-session';

import { isAuthErrorCode } from '../lib/errors';
import { isTransactionCookieName, transactionCookieName } from '../lib/transaction';
import {
  BAD_ESCAPES,
  createSeededRandom,
  encodeForWire,
  listHostileReturnTos,
  mutateReturnTo,
  randomJunk,
  tamperCookie,
  type Random,
} from './support/fuzz';
import { HttpAgent, type HttpResponse, type RequestOptions } from './support/http-agent';
import { findLeaks, listRunSecrets } from './support/log-scan';
import { MisbehavingProvider } from './support/misbehaving-provider';
import { authorize, readErrorCode, settleCallback, signIn } from './support/sign-in-driver';
import { PORT_BASE, startStack, type Stack } from './support/stack';

/**
 * Hostile input against the running production app: a few thousand deterministic cases over
 * /auth/login, /auth/callback, /auth/logout and /api/me (and the pages a tampered cookie reaches).
 * For every response: no 5xx, no stack trace or internal detail, no session cookie, no redirect
 * off the app's origin except to the provider's authorization and end-session endpoints.
 *
 * Reproduce a run with FUZZ_SEED=<seed> (printed).
 */

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const CONCURRENCY = 6;
const TX_TTL_SECONDS = 600;

type FuzzCase = {
  readonly category: string;
  readonly label: string;
  readonly run: () => Promise<string[]>;
};

const INTERNAL_DETAIL: readonly RegExp[] = [
  /\n\s*at [^\n]*:\d+:\d+/, // a stack frame
  /node_modules/,
  new RegExp(process.cwd().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
  /\b(TypeError|ReferenceError|RangeError|SyntaxError|URIError)\b/,
  /\bE(CONNREFUSED|CONNRESET|NOENT|ADDRINUSE)\b/,
  /Fe26\.2\*/, // a sealed cookie echoed
];

let op: MisbehavingProvider;
let stack: Stack;

test.beforeAll(async () => {
  op = await MisbehavingProvider.start({ port: PORT_BASE + 1004, issuerPath: '/op' });
  stack = await startStack({
    appPort: PORT_BASE + 4,
    providerPort: op.port,
    withoutProvider: true,
    appEnv: { OIDC_ISSUER: op.issuer },
  });
});

test.afterAll(async () => {
  await stack?.stop();
  await op?.stop();
});

/** Problems every response must be free of. */
function findCommonProblems(
  r: HttpResponse,
  options: { sessionExpected?: boolean } = {},
): string[] {
  const problems: string[] = [];
  if (r.status >= 500) problems.push(`HTTP ${r.status}`);
  for (const pattern of INTERNAL_DETAIL) {
    const match = pattern.exec(r.body);
    if (match)
      problems.push(`internal detail in the body: ${JSON.stringify(match[0].slice(0, 80))}`);
  }
  if (!options.sessionExpected && r.cookiesSet.includes('rp_session'))
    problems.push('a session cookie was set');
  if (r.location !== undefined) {
    const target = new URL(r.location);
    const toApp = target.origin === stack.appUrl;
    const toProvider =
      target.origin === op.origin &&
      [
        `${new URL(op.issuer).pathname}/authorize`,
        `${new URL(op.issuer).pathname}/end_session`,
      ].includes(target.pathname);
    if (!toApp && !toProvider)
      problems.push(`redirect off the app's origin: ${r.location.slice(0, 120)}`);
  }
  return problems.map(
    (p) => `${r.url.slice(stack.appUrl.length, stack.appUrl.length + 100)} → ${p}`,
  );
}

/** A same-origin path as the browser would resolve it. */
function isSameOriginPath(value: string): boolean {
  try {
    return value.startsWith('/') && new URL(value, stack.appUrl).origin === stack.appUrl;
  } catch {
    return false;
  }
}

async function mintTransaction(state: string): Promise<string> {
  return sealData(
    {
      state,
      nonce: randomBytes(16).toString('base64url'),
      code_verifier: randomBytes(32).toString('base64url'),
      returnTo: '/profile',
      created_at: Math.floor(Date.now() / 1000),
    },
    { password: stack.sessionSecret, ttl: TX_TTL_SECONDS },
  );
}

function buildQuery(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function pickHostileHeaders(random: Random): Record<string, string> {
  return random.chance(0.2)
    ? {
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': random.pick(['https', 'gopher']),
        'x-forwarded-for': '203.0.113.9',
      }
    : {};
}

function pickJunkParams(random: Random): Array<[string, string]> {
  const names = [
    'returnTo',
    'code',
    'state',
    'iss',
    'error',
    'error_description',
    'session_state',
    'x',
    '__proto__',
    'constructor',
    'a[b]',
    'returnTo[]',
    randomJunk(random, 5),
  ];
  const out: Array<[string, string]> = [];
  for (let i = random.int(4); i > 0; i--)
    out.push([
      encodeURIComponent(random.pick(names)),
      encodeForWire(random, randomJunk(random, 1 + random.int(40))),
    ]);
  return out;
}

function buildLoginCases(random: Random): FuzzCase[] {
  const bases = listHostileReturnTos(stack.appUrl);
  const cases: FuzzCase[] = [];
  for (let i = 0; i < 700; i++) {
    const decoded = random.chance(0.5)
      ? random.pick(bases)
      : mutateReturnTo(random, random.pick(bases));
    const params: Array<[string, string]> = [
      [
        'returnTo',
        random.chance(0.6) ? encodeURIComponent(decoded) : encodeForWire(random, decoded),
      ],
    ];
    if (random.chance(0.2)) params.push(['returnTo', encodeURIComponent(random.pick(bases))]);
    if (random.chance(0.2)) params.unshift(['returnTo', '%2Fprofile']);
    params.push(...pickJunkParams(random));
    const headers = pickHostileHeaders(random);
    cases.push({
      category: '/auth/login',
      label: buildQuery(params).slice(0, 100),
      run: async () => {
        const agent = new HttpAgent();
        const r = await agent.request(`${stack.appUrl}/auth/login?${buildQuery(params)}`, {
          headers,
        });
        const problems = findCommonProblems(r);
        if (r.status === 303 && r.location?.startsWith(op.issuer)) {
          const names = agent.cookieNames().filter((n) => isTransactionCookieName(n, ''));
          if (names.length !== 1) problems.push(`${names.length} transaction cookies set`);
          const sealed = names[0] === undefined ? undefined : agent.cookie(names[0]);
          const tx = sealed
            ? await unsealData<{ returnTo?: unknown }>(sealed, {
                password: stack.sessionSecret,
                ttl: TX_TTL_SECONDS,
              })
            : undefined;
          const returnTo = typeof tx?.returnTo === 'string' ? tx.returnTo : undefined;
          if (returnTo === undefined || !isSameOriginPath(returnTo))
            problems.push(`stored returnTo ${JSON.stringify(returnTo)} leaves the origin`);
        } else if (r.status < 400) {
          problems.push(`unexpected answer ${r.status} ${r.location ?? ''}`);
        }
        return problems;
      },
    });
  }
  return cases;
}

function buildReturnToCases(random: Random): FuzzCase[] {
  const bases = listHostileReturnTos(stack.appUrl);
  return Array.from({ length: 60 }, (_, i): FuzzCase => {
    const decoded =
      i < bases.length ? (bases[i] ?? '/') : mutateReturnTo(random, random.pick(bases));
    return {
      category: 'returnTo, whole sign-in',
      label: JSON.stringify(decoded).slice(0, 100),
      run: async () => {
        const agent = new HttpAgent();
        const { callback, authorization } = await authorize(agent, stack.appUrl, op, {}, decoded);
        const outcome = await settleCallback(
          agent,
          stack.appUrl,
          op,
          callback,
          authorization,
          op.userinfoRequests.length,
        );
        const problems: string[] = [];
        if (outcome.kind !== 'session')
          problems.push(`sign-in did not complete: ${outcome.code ?? outcome.kind}`);
        if (!outcome.landing || new URL(outcome.landing).origin !== stack.appUrl)
          problems.push(`landed on ${outcome.landing ?? 'nothing'}`);
        return problems.map((p) => `returnTo ${JSON.stringify(decoded).slice(0, 60)} → ${p}`);
      },
    };
  });
}

/** Codes sent in callbacks that carried no transaction: none may ever be redeemed. */
const noTransactionCodes = new Set<string>();

function pickCallbackParams(
  random: Random,
  state: string,
  codes: Set<string> | undefined,
): Array<[string, string]> {
  const params: Array<[string, string]> = [];
  const stateChoice = random.int(8);
  if (stateChoice < 3) params.push(['state', encodeURIComponent(state)]);
  else if (stateChoice === 3) params.push(['state', 'not-the-state']);
  else if (stateChoice === 4)
    params.push(['state', encodeURIComponent(state)], ['state', encodeURIComponent(state)]);
  else if (stateChoice === 5)
    params.push(['state', `${encodeURIComponent(state)}${random.pick(BAD_ESCAPES)}`]);
  else if (stateChoice === 6) params.push(['state', encodeForWire(random, state)]);
  const issChoice = random.int(6);
  if (issChoice < 3) params.push(['iss', encodeURIComponent(op.issuer)]);
  else if (issChoice === 3) params.push(['iss', encodeURIComponent(`${op.issuer}/`)]);
  else if (issChoice === 4) params.push(['iss', encodeForWire(random, 'https://evil.example')]);
  if (random.chance(0.15)) {
    params.push([
      'error',
      encodeForWire(random, random.pick(['access_denied', 'server_error', randomJunk(random, 12)])),
    ]);
    params.push([
      'error_description',
      encodeURIComponent(
        random.pick([
          '<script>alert(1)</script>',
          '"><img src=x onerror=alert(1)>',
          randomJunk(random, 60),
        ]),
      ),
    ]);
  } else {
    const codeChoice = random.int(6);
    if (codeChoice < 3) {
      const code = randomBytes(32).toString('base64url');
      codes?.add(code);
      params.push(['code', code]);
    } else if (codeChoice === 3) params.push(['code', 'a'], ['code', 'b']);
    else if (codeChoice === 4) params.push(['code', encodeForWire(random, randomJunk(random, 50))]);
  }
  params.push(...pickJunkParams(random));
  // Shuffle: parameter order must not matter.
  for (let i = params.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [params[i], params[j]] = [params[j] as [string, string], params[i] as [string, string]];
  }
  return params;
}

function buildCallbackCases(random: Random): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (let i = 0; i < 1100; i++) {
    const withTransaction = i % 3 !== 0;
    const state = randomBytes(16).toString('base64url');
    const params = pickCallbackParams(
      random,
      state,
      withTransaction ? undefined : noTransactionCodes,
    );
    const headers = pickHostileHeaders(random);
    const readPage = random.chance(0.1);
    cases.push({
      category: withTransaction
        ? '/auth/callback (with a transaction)'
        : '/auth/callback (no transaction)',
      label: buildQuery(params).slice(0, 100),
      run: async () => {
        const agent = new HttpAgent();
        if (withTransaction)
          agent.setCookie(transactionCookieName(state, ''), await mintTransaction(state));
        const r = await agent.request(`${stack.appUrl}/auth/callback?${buildQuery(params)}`, {
          headers,
        });
        const problems = findCommonProblems(r);
        if (r.status < 400) {
          const landing = r.location ? new URL(r.location) : undefined;
          const code = landing?.searchParams.get('code');
          if (r.status !== 303 || landing?.pathname !== '/auth/error' || !isAuthErrorCode(code))
            problems.push(`answered ${r.status} ${r.location ?? ''}`);
          else if (!withTransaction && code !== 'missing_transaction')
            problems.push(`without a transaction the error is ${code}`);
          if (readPage && landing) {
            const page = await agent.request(landing.href);
            problems.push(...findCommonProblems(page));
            if (page.status !== 200 || readErrorCode(page.body) !== code)
              problems.push(
                `error page ${page.status} shows ${readErrorCode(page.body) ?? 'no code'}`,
              );
            if (/<script>alert|<img src=x/i.test(page.body))
              problems.push('provider text rendered as markup');
          }
        }
        if (agent.cookie('rp_session') !== undefined)
          problems.push('the browser holds a session after the callback');
        return problems;
      },
    });
  }
  return cases;
}

function buildCookieCases(random: Random, session: string): FuzzCase[] {
  const targets = [
    '/api/me',
    '/',
    '/profile',
    '/auth/callback?code=x&state=y',
    '/auth/error?code=state_mismatch',
    '/auth/login?returnTo=/profile',
  ];
  const cases: FuzzCase[] = [];
  for (let i = 0; i < 600; i++) {
    const target = random.pick(targets);
    const sessions = [tamperCookie(random, session)];
    if (random.chance(0.2)) sessions.push(tamperCookie(random, session));
    const pieces = sessions.map((value) => `rp_session=${value}`);
    // The transaction cookie of the state `y` some targets carry.
    if (random.chance(0.3))
      pieces.push(`${transactionCookieName('y', '')}=${tamperCookie(random, session)}`);
    if (random.chance(0.2)) pieces.push(`rp_error=${tamperCookie(random, session)}`);
    if (random.chance(0.1))
      pieces.push(
        `${randomJunk(random, 6).replace(/[=;,\s]/g, 'x')}=${randomJunk(random, 30).replace(/[;,\s]/g, 'x')}`,
      );
    const cookieHeader = pieces.join('; ');
    cases.push({
      category: 'tampered cookies',
      label: `${target} ${cookieHeader.slice(0, 80)}`,
      run: async () => {
        const agent = new HttpAgent();
        const r = await agent.request(`${stack.appUrl}${target}`, { cookieHeader });
        const problems = findCommonProblems(r);
        // A changed but equivalent encoding (base64 padding bits, or no change at all) still
        // opens: that is the same session, not a new one.
        const opens = await Promise.all(
          sessions.map((value) =>
            // The cookie holds a sealed session id (lib/session-data.ts), nothing else.
            unsealData<{ id?: unknown }>(value, { password: stack.sessionSecret }).then(
              (data) => typeof data.id === 'string',
              () => false,
            ),
          ),
        );
        if (!opens.includes(true)) {
          if (target === '/api/me' && r.status !== 401)
            problems.push(`/api/me answered ${r.status} to a tampered session`);
          if (target === '/' && !r.body.includes('data-testid="signed-out"'))
            problems.push('the home page shows someone signed in');
          if (
            target === '/profile' &&
            !(r.status === 307 && r.location?.startsWith(`${stack.appUrl}/auth/login`))
          )
            problems.push(`/profile answered ${r.status}`);
        }
        return problems;
      },
    });
  }
  return cases;
}

function buildLogoutCases(random: Random, session: string): FuzzCase[] {
  const origins = [
    undefined,
    stack.appUrl,
    'null',
    'https://evil.example',
    `${stack.appUrl}.evil.example`,
    'http://localhost',
    stack.appUrl.replace(/:\d+$/, ':1'),
    randomJunk(random, 20),
    '',
  ];
  const cases: FuzzCase[] = [];
  for (let i = 0; i < 300; i++) {
    const origin = random.pick(origins);
    const method = random.chance(0.8) ? 'POST' : random.pick(['GET', 'PUT', 'DELETE', 'PATCH']);
    const cookie = random.pick(['none', 'valid', 'tampered'] as const);
    const params = pickJunkParams(random);
    const options: RequestOptions = {
      method,
      headers: {
        ...(origin !== undefined ? { origin } : {}),
        'content-type': random.pick([
          'application/x-www-form-urlencoded',
          'text/plain',
          'multipart/form-data; boundary=x',
        ]),
      },
      ...(method !== 'GET' ? { body: buildQuery(pickJunkParams(random)) } : {}),
      cookieHeader:
        cookie === 'none'
          ? ''
          : `rp_session=${cookie === 'valid' ? session : tamperCookie(random, session)}`,
    };
    cases.push({
      category: '/auth/logout',
      label: `${method} origin=${String(origin)} cookie=${cookie} ${buildQuery(params).slice(0, 60)}`,
      run: async () => {
        const r = await new HttpAgent().request(
          `${stack.appUrl}/auth/logout${params.length ? `?${buildQuery(params)}` : ''}`,
          options,
        );
        const problems = findCommonProblems(r);
        const crossOrigin = origin !== undefined && origin !== stack.appUrl;
        if (method === 'POST' && crossOrigin && r.status !== 403)
          problems.push(`cross-origin logout (Origin ${origin}) answered ${r.status}`);
        if (method === 'POST' && !crossOrigin && r.status !== 303)
          problems.push(`same-origin logout answered ${r.status}`);
        if (method !== 'POST' && r.status < 400) problems.push(`${method} answered ${r.status}`);
        return problems;
      },
    });
  }
  return cases;
}

function buildMeCases(random: Random): FuzzCase[] {
  return Array.from({ length: 300 }, (): FuzzCase => {
    const method = random.chance(0.7)
      ? 'GET'
      : random.pick(['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
    const params = pickJunkParams(random);
    const headers = {
      ...pickHostileHeaders(random),
      accept: random.pick(['application/json', 'text/html', '*/*', randomJunk(random, 20)]),
      authorization: random.pick(['', `Bearer ${randomJunk(random, 40)}`, 'Basic Og==']),
    };
    return {
      category: '/api/me',
      label: `${method} ${buildQuery(params).slice(0, 80)}`,
      run: async () => {
        const r = await new HttpAgent().request(
          `${stack.appUrl}/api/me${params.length ? `?${buildQuery(params)}` : ''}`,
          {
            method,
            headers,
            ...(method === 'GET' || method === 'OPTIONS' ? {} : { body: randomJunk(random, 30) }),
          },
        );
        const problems = findCommonProblems(r);
        if (method === 'GET' && r.status !== 401 && r.status !== 431 && r.status !== 414)
          problems.push(`GET answered ${r.status} without a session`);
        return problems;
      },
    };
  });
}

type Tally = { cases: number; ms: number };

async function runAll(
  cases: readonly FuzzCase[],
): Promise<{ failures: string[]; perCategory: Map<string, Tally> }> {
  const failures: string[] = [];
  const perCategory = new Map<string, Tally>();
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++] as FuzzCase;
      const tally = perCategory.get(c.category) ?? { cases: 0, ms: 0 };
      perCategory.set(c.category, tally);
      tally.cases += 1;
      const started = performance.now();
      try {
        failures.push(...(await c.run()).map((p) => `[${c.category}] ${p}`));
      } catch (err) {
        failures.push(`[${c.category}] ${c.label}: request failed: ${(err as Error).message}`);
      }
      tally.ms += performance.now() - started;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { failures, perCategory };
}

test(`hostile input (seed ${SEED}): no 5xx, no internal detail, no session, no foreign redirect`, async () => {
  test.setTimeout(180_000);
  const owner = new HttpAgent();
  const signedIn = await signIn(stack.appUrl, op, {}, owner);
  expect(signedIn.kind).toBe('session');
  const session = owner.cookie('rp_session') ?? '';
  expect(session).not.toBe('');

  const random = createSeededRandom(SEED);
  const cases = [
    ...buildLoginCases(random),
    ...buildCallbackCases(random),
    ...buildCookieCases(random, session),
    ...buildLogoutCases(random, session),
    ...buildMeCases(random),
    ...buildReturnToCases(random),
  ];
  const started = performance.now();
  const { failures, perCategory } = await runAll(cases);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const breakdown = [...perCategory]
    .map(
      ([category, t]) =>
        `  ${String(t.cases).padStart(5)}  ${category.padEnd(36)} ${(t.ms / t.cases).toFixed(1)} ms/case`,
    )
    .join('\n');
  console.log(
    `\nHostile input: ${cases.length} cases in ${seconds} s (seed ${SEED}, ` +
      `${CONCURRENCY} in flight)\n${breakdown}\n  failures: ${failures.length}\n`,
  );

  expect(failures.slice(0, 25)).toEqual([]);
  // A callback without this browser's transaction never reaches the token endpoint.
  expect(noTransactionCodes.size).toBeGreaterThan(100);
  expect(
    op.tokenRequests
      .filter((r) => r.code !== undefined && noTransactionCodes.has(r.code))
      .map((r) => r.code),
  ).toEqual([]);
  expect(
    findLeaks(stack.appLog(), listRunSecrets(op.issuedSecrets(), stack.sessionSecret)),
  ).toEqual([]);
});

/** Each route handler of the app and the methods it answers (HEAD and OPTIONS come with them). */
const ROUTE_METHODS: ReadonlyArray<readonly [path: string, allow: string]> = [
  ['/auth/login', 'GET, HEAD, OPTIONS'],
  ['/auth/callback', 'GET, HEAD, OPTIONS'],
  ['/auth/unavailable', 'GET, HEAD, OPTIONS'],
  ['/auth/logout', 'OPTIONS, POST'],
  ['/auth/backchannel-logout', 'OPTIONS, POST'],
  ['/api/me', 'GET, HEAD, OPTIONS'],
  ['/api/me/messages', 'GET, HEAD, OPTIONS'],
  ['/api/messages', 'GET, HEAD, OPTIONS'],
  ['/api/messages/1', 'GET, HEAD, OPTIONS'],
  ['/.well-known/jwks.json', 'GET, HEAD, OPTIONS'],
];

test('a method a route does not answer gets 405 with Allow; OPTIONS lists the same methods', async () => {
  const problems: string[] = [];
  for (const [path, allow] of ROUTE_METHODS) {
    const allowed = allow.split(', ');
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await new HttpAgent().request(`${stack.appUrl}${path}`, { method });
      if (method === 'OPTIONS') {
        if (r.status !== 204 || r.headers.get('allow') !== allow)
          problems.push(`${method} ${path}: ${r.status} Allow: ${r.headers.get('allow')}`);
      } else if (!allowed.includes(method)) {
        // RFC 9110 §15.5.6: a 405 MUST carry Allow, the methods the resource does answer.
        if (r.status !== 405 || r.headers.get('allow') !== allow)
          problems.push(`${method} ${path}: ${r.status} Allow: ${r.headers.get('allow')}`);
      } else if (r.status === 405 || (r.status >= 500 && path !== '/auth/unavailable')) {
        problems.push(`${method} ${path}: ${r.status}`);
      }
    }
  }
  expect(problems).toEqual([]);
});

test('a path that does not percent-decode is a 400, never a 500', async () => {
  for (const path of ['/api/messages/%ff', '/api/messages/%E0%A4%A', '/api/messages/%', '/%ff']) {
    const r = await new HttpAgent().request(`${stack.appUrl}${path}`);
    expect(`${path} ${r.status}`).toBe(`${path} 400`);
    expect(r.headers.get('content-security-policy')).toContain("'nonce-");
    expect(r.headers.get('cache-control')).toContain('no-store');
    expect(findCommonProblems(r)).toEqual([]);
  }
});

test('sign-out refuses a cross-site POST that Fetch Metadata names, even without Origin', async () => {
  for (const site of ['cross-site', 'same-site']) {
    const agent = new HttpAgent();
    expect((await signIn(stack.appUrl, op, {}, agent)).kind).toBe('session');
    // An Origin header stripped (a privacy extension, a proxy): Sec-Fetch-Site still tells.
    const r = await agent.request(`${stack.appUrl}/auth/logout`, {
      method: 'POST',
      headers: { 'sec-fetch-site': site, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(`${site}: ${r.status}`).toBe(`${site}: 403`);
    expect((await agent.request(`${stack.appUrl}/api/me`)).status).toBe(200);
  }
  const agent = new HttpAgent();
  expect((await signIn(stack.appUrl, op, {}, agent)).kind).toBe('session');
  const own = await agent.request(`${stack.appUrl}/auth/logout`, {
    method: 'POST',
    headers: { origin: stack.appUrl, 'sec-fetch-site': 'same-origin' },
  });
  expect(own.status).toBe(303);
  expect((await agent.request(`${stack.appUrl}/api/me`)).status).toBe(401);
});

test('a server action posted from another origin is refused with 403, never a 500', async () => {
  const agent = new HttpAgent();
  expect((await signIn(stack.appUrl, op, {}, agent)).kind).toBe('session');
  const page = await agent.request(`${stack.appUrl}/machine`);
  expect(page.status).toBe(200);
  // The action's id is public: it is in the page's form (progressive enhancement) or its scripts.
  const actionIds = new Set<string>();
  for (const chunk of [...page.body.matchAll(/src="(\/_next\/static\/[^"]+\.js)"/g)]) {
    const js = await agent.request(`${stack.appUrl}${chunk[1]}`);
    for (const m of js.body.matchAll(/createServerReference\)?\(\s*"([0-9a-f]{40,})"/g))
      actionIds.add(m[1] as string);
  }
  expect(actionIds.size).toBeGreaterThan(0);
  for (const id of actionIds) {
    for (const headers of [
      { origin: 'https://evil.example' } as Record<string, string>,
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
    ]) {
      for (const path of ['/machine', '/profile', '/']) {
        const r = await agent.request(`${stack.appUrl}${path}`, {
          method: 'POST',
          headers: { ...headers, 'next-action': id, 'content-type': 'text/plain;charset=UTF-8' },
          body: '[]',
        });
        expect(`${path} ${JSON.stringify(headers)} ${r.status}`).toBe(
          `${path} ${JSON.stringify(headers)} 403`,
        );
        expect(findCommonProblems(r)).toEqual([]);
      }
    }
  }
  // The app's own page still runs its action.
  const own = await agent.request(`${stack.appUrl}/machine`, {
    method: 'POST',
    headers: {
      origin: stack.appUrl,
      'sec-fetch-site': 'same-origin',
      'next-action': [...actionIds][0] as string,
      'content-type': 'text/plain;charset=UTF-8',
    },
    body: '[]',
  });
  expect(own.status).toBe(200);
});
