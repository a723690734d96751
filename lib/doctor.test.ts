import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { findFreePort } from '../scripts/processes';
import { startBundledProviderWithJwks } from '../e2e/support/in-process-provider';
import { parseConfig, type Env } from './config';
import { runDoctor, type DoctorReport } from './doctor';
import { loadClientKeySet } from './keys';

/**
 * `npm run doctor` against the bundled provider set up like providers that need other settings
 * than the defaults: only the token endpoint as audience and an empty 403 for a refusal (the
 * provider of the issue that asked for this), `typ` refused, only PS256 accepted. Each time the
 * doctor must name the settings that work, and it must never report success unless the provider
 * got past client authentication.
 */

const APP_URL = 'http://localhost:3996';
let dir: string;
let keyFile: string;
let publicJwks: { keys: Array<Record<string, unknown>> };
const running: Server[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rp-doctor-'));
  keyFile = join(dir, 'client.pem');
  writeFileSync(
    keyFile,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }),
  );
  publicJwks = {
    keys: (await loadClientKeySet(keyFile)).published.map((k) => ({ ...k })),
  };
});

after(() => {
  for (const server of running) {
    server.close();
    server.closeAllConnections();
  }
});

/** The bundled provider with `env` on a free port, the client's JWKS registered inline. */
async function startOddProvider(
  env: Env,
  jwks: { keys: Array<Record<string, unknown>> } = publicJwks,
): Promise<string> {
  const jwksFile = join(dir, `jwks-${running.length}.json`);
  writeFileSync(jwksFile, JSON.stringify(jwks));
  const { issuer, server } = await startBundledProviderWithJwks(APP_URL, jwksFile, env);
  running.push(server);
  return issuer;
}

function appEnv(issuer: string, extra: Env = {}): Env {
  return {
    OIDC_ISSUER: issuer,
    APP_URL,
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
    OIDC_HTTP_TIMEOUT_MS: '5000',
    ...extra,
  };
}

async function diagnose(issuer: string, extra: Env = {}): Promise<DoctorReport> {
  return runDoctor(parseConfig(appEnv(issuer, extra)));
}

function finding(report: DoctorReport, section: string) {
  return report.findings.filter((f) => f.section === section);
}

describe('npm run doctor finds the settings a provider needs', () => {
  it('proves client authentication against the default provider (exit 0), with a refused control', async () => {
    const report = await diagnose(await startOddProvider({}));
    assert.equal(report.verdict, 'proven', report.summary);
    assert.equal(report.exitCode, 0);
    const [configured, control] = report.probes;
    assert.equal(configured?.verdict, 'authenticated');
    assert.equal(configured?.answer?.error, 'invalid_grant');
    assert.equal(configured?.sent?.header.typ, 'client-authentication+jwt');
    assert.ok(configured?.sent?.payload.jti);
    assert.equal(control?.purpose, 'negative control (a key nobody registered)');
    assert.equal(control?.verdict, 'refused');
    assert.equal(control?.answer?.error, 'invalid_client');
    // RS256 with an RSA key that signs PS256 too: a weakening, with the reason.
    assert.ok(report.weakenings.some((w) => w.startsWith('RS256 while the provider offers PS256')));
    const authorization = finding(report, 'Authorization endpoint')[0];
    assert.equal(authorization?.level, 'ok', authorization?.message);
  });

  it(
    'a provider that wants the token endpoint as audience and refuses with an empty 403: names ' +
      'OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint (exit 1)',
    async () => {
      const issuer = await startOddProvider({
        PROVIDER_ASSERTION_AUDIENCE: 'token_endpoint',
        PROVIDER_CLIENT_AUTH_FAILURE: 'empty-403',
      });
      const report = await diagnose(issuer);
      assert.equal(report.verdict, 'refused');
      assert.equal(report.exitCode, 1);
      const [configured] = report.probes;
      assert.equal(configured?.answer?.status, 403);
      assert.equal(configured?.answer?.body, 'empty');
      assert.equal(configured?.answered, '403, empty body');
      assert.equal(configured?.verdict, 'refused');
      // typ is off by default with a token-endpoint audience; this provider takes it typed too.
      assert.deepEqual(report.accepted?.env, [
        'OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint',
        'OIDC_CLIENT_ASSERTION_TYP=true',
      ]);
      assert.equal(report.accepted?.shape, 'aud=token_endpoint typ=on alg=RS256');
      const accepted = report.probes.find((p) => p.verdict === 'authenticated');
      assert.equal(accepted?.sent?.payload.aud, `${issuer}/token`);
      // Every alternative was a fresh assertion.
      const jtis = report.probes.map((p) => p.sent?.payload.jti);
      assert.equal(new Set(jtis).size, jtis.length);
      assert.ok(report.weakenings.some((w) => w.startsWith('audience other than the issuer')));

      // With the settings it named, the doctor proves client authentication.
      const fixed = await diagnose(issuer, {
        OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint',
        OIDC_CLIENT_ASSERTION_TYP: 'true',
      });
      assert.equal(fixed.verdict, 'proven', fixed.summary);
      assert.equal(fixed.exitCode, 0);
    },
  );

  it('a provider that refuses typed assertions, with an HTML 400: names OIDC_CLIENT_ASSERTION_TYP=false', async () => {
    const report = await diagnose(
      await startOddProvider({
        PROVIDER_ASSERTION_TYP: 'forbidden',
        PROVIDER_CLIENT_AUTH_FAILURE: 'html-400',
      }),
    );
    assert.equal(report.verdict, 'refused');
    assert.equal(report.probes[0]?.answer?.contentType, 'text/html');
    assert.deepEqual(report.accepted?.env, ['OIDC_CLIENT_ASSERTION_TYP=false']);
    assert.ok(report.weakenings.some((w) => w.startsWith('typ off')));
  });

  it(
    'a provider that accepts only PS256 (the key registered without alg): names ' +
      'OIDC_CLIENT_AUTH_ALG=PS256',
    async () => {
      const withoutAlg = { keys: publicJwks.keys.map(({ alg: _alg, ...k }) => k) };
      const report = await diagnose(
        await startOddProvider({ PROVIDER_CLIENT_AUTH_ALGS: 'PS256,ES256' }, withoutAlg),
      );
      assert.equal(report.verdict, 'refused');
      assert.ok(
        finding(report, 'Signing key').some(
          (f) => f.level === 'fail' && f.message.startsWith('OIDC_CLIENT_AUTH_ALG'),
        ),
      );
      assert.deepEqual(report.accepted?.env, ['OIDC_CLIENT_AUTH_ALG=PS256']);
      assert.deepEqual(report.weakenings, []);
    },
  );

  it('an unknown client: every shape refused, the likely causes and the provider’s own words', async () => {
    const report = await diagnose(await startOddProvider({}), { OIDC_CLIENT_ID: 'not-registered' });
    assert.equal(report.verdict, 'refused');
    assert.equal(report.exitCode, 1);
    assert.equal(report.accepted, undefined);
    assert.ok(report.causes.length >= 3);
    assert.ok(report.causes.some((c) => c.includes('OIDC_CLIENT_ID (not-registered)')));
    assert.ok(report.providerSaid.some((said) => said.includes('invalid_client')));
    // The authorization endpoint refuses the unknown client too.
    assert.equal(finding(report, 'Authorization endpoint')[0]?.level, 'fail');
  });

  it('metadata lists that are not JSON arrays: reported, not a crash', async () => {
    // RFC 8414 §2 makes these members JSON arrays; a provider that sends a string must get a
    // finding, the way the app itself ignores such a value, not a TypeError from the doctor.
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
            token_endpoint_auth_methods_supported: 'private_key_jwt',
            token_endpoint_auth_signing_alg_values_supported: 'RS256',
          }),
        );
        return;
      }
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"invalid_client"}');
    });
    await new Promise<void>((done) => server.listen(0, 'localhost', done));
    running.push(server);
    const report = await diagnose(`http://localhost:${(server.address() as AddressInfo).port}`);
    assert.equal(report.verdict, 'refused', report.summary);
    const provider = finding(report, 'Provider');
    for (const member of [
      'token_endpoint_auth_methods_supported',
      'token_endpoint_auth_signing_alg_values_supported',
    ])
      assert.ok(
        provider.some((f) => f.level === 'warn' && f.message.startsWith(`${member} is not a list`)),
        member,
      );
    assert.ok(report.probes.length > 0, 'the assertion is still tried');
  });

  it('provider text in the findings is on one line, without control characters', async () => {
    // The doctor prints its findings to a terminal: metadata values and a declared issuer come
    // from the provider, and an escape sequence or a line break in them must not reach it.
    const HOSTILE = '\u001b]0;owned\u0007\r\nok  fake line\u009b2J';
    const server = createServer((req, res) => {
      const base = `http://localhost:${(server.address() as AddressInfo).port}`;
      if (req.url === '/mismatch/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issuer: `${base}/mismatch${HOSTILE}` }));
        return;
      }
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            issuer: base,
            authorization_endpoint: `${base}/auth`,
            token_endpoint: `${base}/token`,
            jwks_uri: `${base}/jwks`,
            response_types_supported: ['code'],
            token_endpoint_auth_methods_supported: ['private_key_jwt', HOSTILE],
            token_endpoint_auth_signing_alg_values_supported: ['RS256', HOSTILE],
          }),
        );
        return;
      }
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"invalid_client"}');
    });
    await new Promise<void>((done) => server.listen(0, 'localhost', done));
    running.push(server);
    const base = `http://localhost:${(server.address() as AddressInfo).port}`;
    for (const issuer of [base, `${base}/mismatch`]) {
      const report = await diagnose(issuer);
      assert.ok(
        report.findings.some((f) => f.message.includes('owned')),
        'the provider text is shown',
      );
      for (const f of report.findings)
        for (const text of [f.message, ...(f.lines ?? [])])
          assert.doesNotMatch(
            text,
            /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/,
            JSON.stringify(text),
          );
    }
  });

  it('a provider that is down: not proven (exit 1), nothing claimed', async () => {
    const report = await diagnose(`http://localhost:${await findFreePort()}`);
    assert.equal(report.verdict, 'unproven');
    assert.equal(report.exitCode, 1);
    assert.equal(report.probes.length, 0);
  });
});

describe('the doctor command', () => {
  function runCommand(env: Env): Promise<{ code: number; stdout: string }> {
    return new Promise((done) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/doctor.ts', '--json'],
        { env: { PATH: process.env.PATH, NODE_ENV: 'test', ...env }, timeout: 60_000 },
        (err, stdout) => done({ code: err ? Number(err.code ?? 1) : 0, stdout }),
      );
    });
  }

  it('prints JSON and exits 1 when the provider refuses, 2 for a configuration error', async () => {
    const issuer = await startOddProvider({
      PROVIDER_ASSERTION_AUDIENCE: 'token_endpoint',
      PROVIDER_CLIENT_AUTH_FAILURE: 'empty-403',
    });
    const [refused, misconfigured] = await Promise.all([
      runCommand(appEnv(issuer)),
      runCommand(appEnv(issuer, { OIDC_CLIENT_ASSERTION_LIFETIME: '9999' })),
    ]);
    assert.equal(refused.code, 1, refused.stdout);
    const report = JSON.parse(refused.stdout) as DoctorReport;
    assert.deepEqual(report.accepted?.env, [
      'OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint',
      'OIDC_CLIENT_ASSERTION_TYP=true',
    ]);
    assert.equal(misconfigured.code, 2, misconfigured.stdout);
    assert.equal((JSON.parse(misconfigured.stdout) as { verdict: string }).verdict, 'config_error');
  });
});
