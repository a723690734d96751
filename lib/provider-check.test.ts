import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startBundledProviderWithJwks } from '../e2e/support/in-process-provider';
import { parseConfig, type Env } from './config';
import { loadClientKeySet } from './keys';
import { CHECK_CASES, runProviderCheck } from './provider-check';

/**
 * `npm run provider-check` against the bundled provider: strict as it ships (every bad assertion
 * refused), and deliberately lenient (PROVIDER_ASSERTION_CHECKS=lenient: only oidc-provider's own
 * checks), where the weaknesses must be found.
 */

const APP_URL = 'http://localhost:3995';
let dir: string;
let keyFile: string;
let jwksFile: string;
const servers: Server[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rp-provider-check-'));
  keyFile = join(dir, 'client.pem');
  writeFileSync(
    keyFile,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }),
  );
  jwksFile = join(dir, 'client.public.jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: (await loadClientKeySet(keyFile)).published }));
});

after(() => {
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
});

async function startBundledProvider(env: Env = {}): Promise<string> {
  const { issuer, server } = await startBundledProviderWithJwks(APP_URL, jwksFile, env);
  servers.push(server);
  return issuer;
}

function appEnv(issuer: string, extra: Env = {}): Env {
  return {
    OIDC_ISSUER: issuer,
    APP_URL,
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
    ...extra,
  };
}

const statusOf = (report: Awaited<ReturnType<typeof runProviderCheck>>) =>
  Object.fromEntries(report.results.map((r) => [r.id, r.status]));

describe('npm run provider-check', () => {
  it('the bundled provider as it ships refuses every bad assertion', async () => {
    const issuer = await startBundledProvider();
    const report = await runProviderCheck(parseConfig(appEnv(issuer)), { rfc10070: true });
    assert.deepEqual(
      report.results.map((r) => r.id),
      CHECK_CASES.map((c) => c.id),
    );
    assert.deepEqual(
      report.results.filter((r) => r.status !== 'PASS').map((r) => `${r.id}: ${r.reason}`),
      [],
    );
    assert.equal(report.summary, `${CHECK_CASES.length} passed, 0 failed`);
    assert.equal(report.exitCode, 0);
    // What was sent and what came back, for each case.
    const none = report.results.find((r) => r.id === 'alg_none');
    assert.equal(none?.sent?.header.alg, 'none');
    assert.equal(none?.answer?.status, 401);
    assert.equal(none?.answer?.error, 'invalid_client');
    const valid = report.results.find((r) => r.id === 'valid');
    assert.equal(valid?.sent?.header.alg, 'ES256');
    assert.equal(valid?.answer?.error, 'invalid_grant');
    const secret = report.results.find((r) => r.id === 'client_secret_alongside');
    assert.ok(secret?.parameters?.includes('client_secret'));
  });

  it('a deliberately lenient configuration: the weaknesses are found (exit 1)', async () => {
    const issuer = await startBundledProvider({
      PROVIDER_ASSERTION_CHECKS: 'lenient',
      PROVIDER_CLIENT_AUTH_FAILURE: 'empty-403',
    });
    const report = await runProviderCheck(parseConfig(appEnv(issuer)), { rfc10070: true });
    const status = statusOf(report);
    assert.equal(status.valid, 'PASS');
    for (const id of [
      'exp_far_ahead',
      'iat_future',
      'token_endpoint_audience',
      'audience_array_foreign',
      'client_secret_alongside',
    ]) {
      assert.equal(status[id], 'FAIL', id);
    }
    // What oidc-provider checks on its own is still refused (here with an empty 403).
    for (const id of [
      'alg_none',
      'hmac_public_key_pem',
      'foreign_key_registered_kid',
      'replayed_jti',
    ])
      assert.equal(status[id], 'PASS', id);
    assert.equal(report.results.find((r) => r.id === 'alg_none')?.answered, '403, empty body');
    assert.equal(report.summary, `${CHECK_CASES.length - 5} passed, 5 failed`);
    assert.equal(report.exitCode, 1);
  });

  it('without --rfc10070 the token-endpoint audience is skipped, with why', async () => {
    const issuer = await startBundledProvider();
    const report = await runProviderCheck(parseConfig(appEnv(issuer)));
    const skipped = report.results.filter((r) => r.status === 'SKIP');
    assert.deepEqual(
      skipped.map((r) => r.id),
      ['token_endpoint_audience'],
    );
    assert.match(skipped[0]?.reason ?? '', /RFC 10070/);
    assert.equal(report.summary, `${CHECK_CASES.length - 1} passed, 0 failed, 1 skipped`);
  });

  it('a rate-limited or failing token endpoint: no PASS for what was not refused', async () => {
    // The valid assertion is accepted; every later request gets 429 (a rate limit) or 503: those
    // say nothing about the assertion, so they must not count as refusals.
    let requests = 0;
    const server = createServer((req, res) => {
      const base = `http://localhost:${(server.address() as AddressInfo).port}`;
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            issuer: base,
            authorization_endpoint: `${base}/auth`,
            token_endpoint: `${base}/token`,
            jwks_uri: `${base}/jwks`,
            response_types_supported: ['code'],
          }),
        );
        return;
      }
      requests += 1;
      if (requests === 1) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"invalid_grant"}');
      } else {
        res.writeHead(requests % 2 ? 429 : 503, { 'retry-after': '60' });
        res.end();
      }
    });
    await new Promise<void>((done) => server.listen(0, 'localhost', done));
    servers.push(server);
    const report = await runProviderCheck(
      parseConfig(appEnv(`http://localhost:${(server.address() as AddressInfo).port}`)),
    );
    assert.equal(statusOf(report).valid, 'PASS');
    const bad = report.results.filter((r) => r.id !== 'valid');
    assert.deepEqual(
      bad.filter((r) => r.status === 'PASS').map((r) => `${r.id}: ${r.answered}`),
      [],
    );
    assert.ok(bad.some((r) => r.status === 'SKIP' && r.answered?.startsWith('429')));
    assert.ok(bad.some((r) => r.status === 'SKIP' && r.answered?.startsWith('503')));
  });

  it('a declared issuer with control characters is reported on one line', async () => {
    const server = createServer((_req, res) => {
      const base = `http://localhost:${(server.address() as AddressInfo).port}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: `${base}/x\u001b]0;owned\u0007\r\nforged line` }));
    });
    await new Promise<void>((done) => server.listen(0, 'localhost', done));
    servers.push(server);
    await assert.rejects(
      runProviderCheck(
        parseConfig(appEnv(`http://localhost:${(server.address() as AddressInfo).port}`)),
      ),
      (err: Error) =>
        err.message.includes('owned') &&
        !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(err.message.replace(/\n/g, '')) &&
        !err.message.includes('\nforged'),
    );
  });

  it('a refused valid assertion: nothing is judged (exit 2)', async () => {
    const issuer = await startBundledProvider();
    const report = await runProviderCheck(
      parseConfig(appEnv(issuer, { OIDC_CLIENT_ID: 'not-registered' })),
    );
    assert.equal(statusOf(report).valid, 'FAIL');
    assert.equal(report.skipped, CHECK_CASES.length - 1);
    assert.equal(report.exitCode, 2);
  });

  it('the command prints the summary alone on its last line and exits 1 for a lenient provider', async () => {
    const issuer = await startBundledProvider({ PROVIDER_ASSERTION_CHECKS: 'lenient' });
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((done) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/provider-check.ts', '--rfc10070'],
        { env: { PATH: process.env.PATH, NODE_ENV: 'test', ...appEnv(issuer) }, timeout: 60_000 },
        (err, out) => done({ code: err ? Number(err.code ?? 1) : 0, stdout: out }),
      );
    });
    assert.equal(code, 1, stdout);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.at(-1), `${CHECK_CASES.length - 5} passed, 5 failed`);
    assert.match(stdout, /^FAIL {2}exp 25 hours ahead — the provider accepted it$/m);
    assert.match(stdout, /^PASS {2}alg: none \(unsigned\)$/m);
  });
});
