import { expect, test } from '@playwright/test';

import {
  fapi2Cases,
  PRIMARY_CASES,
  secondaryCases,
  type CaseContext,
  type Expected,
  type FaultCase,
} from './support/fault-cases';
import { findLeaks, listRunSecrets } from './support/log-scan';
import { MisbehavingProvider } from './support/misbehaving-provider';
import { formatTable, type Row } from './support/report';
import { signIn, type Outcome } from './support/sign-in-driver';
import { ES256_KEY } from './support/material';
import { PORT_BASE, startStack, type Stack } from './support/stack';
import { findFreePort } from '../scripts/processes';

/**
 * The app against a provider that gets one thing wrong per sign-in (e2e/support/fault-cases.ts),
 * as the OpenID Foundation's RP conformance plans do: plain HTTP with a cookie jar, the
 * production build, one app instance per provider configuration. Prints the table of every case:
 * expected outcome, and what the app did.
 */

const CLIENT_ID = 'client_using_jwt';
const SHORT_TIMEOUT_MS = 1500;
const rows: Row[] = [];

function describeExpected(expected: Expected): string {
  if ('session' in expected) return 'session, /api/me says who';
  const parts = [`error page: ${expected.error}`];
  if (expected.redeemed === false) parts.push('code never redeemed');
  return parts.join(', ');
}

function describeOutcome(outcome: Outcome): string {
  if (outcome.kind === 'session') return `session (sub ${outcome.sub ?? '?'})`;
  if (outcome.kind === 'error')
    return `error page: ${outcome.code ?? '?'}, no session, code redeemed ${outcome.redemptions}×`;
  return `unexpected: callback → ${outcome.landing ?? 'nothing'}, /api/me ${outcome.meStatus}`;
}

function assertOutcome(c: FaultCase, outcome: Outcome, ctx: CaseContext): void {
  if ('session' in c.expected) {
    expect(outcome.kind, `${c.name}: ${describeOutcome(outcome)}`).toBe('session');
    expect(outcome.sub).toBe(ctx.op.user.sub);
    expect(outcome.landing).toBe(`${ctx.appUrl}/profile`);
    return;
  }
  expect(outcome.kind, `${c.name}: ${describeOutcome(outcome)}`).toBe('error');
  expect(outcome.code).toBe(c.expected.error);
  expect(outcome.landing).toBe(`${ctx.appUrl}/auth/error?code=${c.expected.error}`);
  // A readable page: the catalogue's title and hint, no stack trace.
  expect(outcome.errorPage?.body).toContain('data-testid="error-hint"');
  expect(outcome.errorPage?.body).not.toMatch(/\n\s+at \S+ \(|node_modules|\.tsx?:\d+/);
  expect(outcome.meStatus).toBe(401);
  if (c.expected.redeemed !== undefined)
    expect(outcome.redemptions > 0, 'code redeemed').toBe(c.expected.redeemed);
  if (!c.expected.userinfo) expect(outcome.userinfoCalls, 'UserInfo called').toBe(0);
}

async function runCase(c: FaultCase, ctx: CaseContext): Promise<void> {
  await c.setup?.(ctx);
  const before = { jwksFetches: ctx.op.jwksFetches, tokenRequests: ctx.op.tokenRequests.length };
  let outcome: Outcome;
  try {
    outcome = c.run ? await c.run(ctx) : await signIn(ctx.appUrl, ctx.op, c.fault ?? {});
  } finally {
    await c.cleanup?.(ctx);
  }
  const row = {
    case: c.name,
    ref: c.ref,
    expected: describeExpected(c.expected),
    got: describeOutcome(outcome),
    pass: false,
  };
  rows.push(row);
  try {
    assertOutcome(c, outcome, ctx);
    c.check?.(outcome, ctx, before);
  } catch (err) {
    // What the app said about it: its last sign-in failure line.
    const said = ctx
      .appLog()
      .filter((l) => l.includes('sign-in failed'))
      .at(-1);
    throw new Error(`${(err as Error).message}\napp log: ${said ?? '(nothing)'}`, { cause: err });
  }
  row.pass = true;
}

function expectCleanLog(stack: Stack, op: MisbehavingProvider): void {
  expect(op.issuedSecrets().length).toBeGreaterThan(10);
  expect(
    findLeaks(stack.appLog(), listRunSecrets(op.issuedSecrets(), stack.sessionSecret)),
  ).toEqual([]);
}

test.afterAll(() => {
  console.log(formatTable('Provider faults', rows));
});

test.describe('a provider that signs RS256 and advertises RFC 9207 iss', () => {
  let op: MisbehavingProvider;
  let stack: Stack;
  let ctx: CaseContext;

  test.beforeAll(async () => {
    op = await MisbehavingProvider.start({ port: PORT_BASE + 1001, issuerPath: '/op' });
    stack = await startStack({
      appPort: PORT_BASE + 1,
      providerPort: op.port,
      withoutProvider: true,
      appEnv: { OIDC_ISSUER: op.issuer },
    });
    ctx = { appUrl: stack.appUrl, op, clientId: CLIENT_ID, appLog: () => stack.appLog() };
  });

  test.afterAll(async () => {
    await stack?.stop();
    await op?.stop();
  });

  for (const c of PRIMARY_CASES) {
    test(c.name, async () => {
      await runCase(c, ctx);
    });
  }

  test('the app log holds no token, code, assertion, private key or session secret', () => {
    expectCleanLog(stack, op);
  });
});

test.describe(`an ES256 provider without RFC 9207, the app timing out after ${SHORT_TIMEOUT_MS} ms`, () => {
  let op: MisbehavingProvider;
  let stack: Stack;
  let ctx: CaseContext;

  test.beforeAll(async () => {
    op = await MisbehavingProvider.start({
      port: PORT_BASE + 1002,
      signingAlg: 'ES256',
      advertiseIssParameter: false,
    });
    stack = await startStack({
      appPort: PORT_BASE + 2,
      providerPort: op.port,
      withoutProvider: true,
      appEnv: {
        OIDC_ISSUER: op.issuer,
        OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG: 'ES256',
        OIDC_HTTP_TIMEOUT_MS: String(SHORT_TIMEOUT_MS),
      },
    });
    ctx = { appUrl: stack.appUrl, op, clientId: CLIENT_ID, appLog: () => stack.appLog() };
  });

  test.afterAll(async () => {
    await stack?.stop();
    await op?.stop();
  });

  for (const c of secondaryCases(SHORT_TIMEOUT_MS)) {
    test(c.name, async () => {
      await runCase(c, ctx);
    });
  }

  test('the app log holds no token, code, assertion, private key or session secret', () => {
    expectCleanLog(stack, op);
  });
});

test.describe(`a FAPI 2.0 provider (PAR, DPoP), OIDC_PROFILE=fapi2, ${SHORT_TIMEOUT_MS} ms timeout`, () => {
  let op: MisbehavingProvider;
  let stack: Stack;
  let ctx: CaseContext;

  test.beforeAll(async () => {
    op = await MisbehavingProvider.start({
      port: await findFreePort(),
      issuerPath: '/fapi',
      signingAlg: 'ES256',
      fapi2: true,
    });
    stack = await startStack({
      appPort: await findFreePort(),
      providerPort: op.port,
      withoutProvider: true,
      appEnv: {
        OIDC_ISSUER: op.issuer,
        OIDC_PROFILE: 'fapi2',
        OIDC_CLIENT_KEY_FILE: ES256_KEY,
        OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG: 'ES256',
        OIDC_HTTP_TIMEOUT_MS: String(SHORT_TIMEOUT_MS),
      },
    });
    ctx = { appUrl: stack.appUrl, op, clientId: CLIENT_ID, appLog: () => stack.appLog() };
  });

  test.afterAll(async () => {
    await stack?.stop();
    await op?.stop();
  });

  for (const c of fapi2Cases()) {
    test(c.name, async () => {
      await runCase(c, ctx);
    });
  }

  test('the app log holds no token, code, assertion, proof, private key or session secret', () => {
    expectCleanLog(stack, op);
  });
});

test('discovery: a provider declaring another issuer stops the app at start with a clear message', async () => {
  const op = await MisbehavingProvider.start({
    port: PORT_BASE + 1003,
    declaredIssuer: 'https://op.attacker.example',
  });
  const row = {
    case: 'discovered issuer differs from OIDC_ISSUER',
    ref: 'OIDC Discovery §4.3; oidcc-client-test-discovery-issuer-mismatch; fapi2-…-discovery-issuer-mismatch',
    expected: 'app refuses to start, names OIDC_ISSUER',
    got: '',
    pass: false,
  };
  rows.push(row);
  try {
    let failure = '';
    try {
      const stack = await startStack({
        appPort: PORT_BASE + 3,
        providerPort: op.port,
        withoutProvider: true,
        appEnv: { OIDC_ISSUER: op.issuer },
      });
      await stack.stop();
      row.got = 'app started';
    } catch (err) {
      failure = (err as Error).message;
      row.got = /exited before it was ready/.test(failure)
        ? 'app exited at start'
        : `start failed otherwise: ${failure.slice(0, 60)}`;
    }
    expect(failure).toContain('app exited before it was ready');
    expect(failure).toContain('OIDC_ISSUER');
    expect(failure).toContain(`declares its issuer as "https://op.attacker.example"`);
    expect(op.tokenRequests).toHaveLength(0);
    row.got += ', message names OIDC_ISSUER and the declared issuer';
    row.pass = true;
  } finally {
    await op.stop();
  }
});
