import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  describeRedisUrl,
  parseClientJwksMaxAge,
  parseConfig,
  sessionPasswordId,
  type Env,
} from './config';
import { ConfigError } from './errors';

const root = mkdtempSync(join(tmpdir(), 'rp-config-'));
const keyFile = join(root, 'client.pem');
writeFileSync(keyFile, 'placeholder: readability is all parseConfig checks');
const secret = 'x'.repeat(32);
const devSecret = () => 'd'.repeat(43);

function parse(env: Env) {
  return parseConfig(env, { root, devSessionSecret: devSecret });
}

function problemsOf(env: Env): Map<string, string> {
  try {
    parse(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, 'expected a ConfigError');
    return new Map(err.problems.map((p) => [p.variable, p.message]));
  }
  assert.fail('expected parseConfig to throw');
}

describe('parseConfig', () => {
  it('needs nothing in development: the bundled provider and generated secrets', () => {
    const config = parse({ OIDC_CLIENT_KEY_FILE: keyFile });
    assert.equal(config.issuer, 'http://localhost:4000');
    assert.equal(config.clientId, 'client_using_jwt');
    assert.equal(config.appUrl, 'http://localhost:3000');
    assert.equal(config.redirectUri, 'http://localhost:3000/auth/callback');
    assert.equal(config.postLogoutRedirectUri, 'http://localhost:3000/');
    assert.equal(config.scopes, 'openid profile email');
    assert.equal(config.sessionSecretSource, 'dev-file');
    assert.equal(config.sessionSecret, devSecret());
    assert.equal(config.secureCookies, false);
    assert.equal(config.httpTimeoutMs, 10_000);
    assert.deepEqual(config.assertion, {
      alg: undefined,
      audience: { mode: 'issuer' },
      typ: true,
      x5tSha1: false,
      lifetimeSeconds: 60,
    });
    assert.equal(config.clockSkewMaxSeconds, 300);
    assert.deepEqual(config.api, {
      resource: 'http://localhost:3000/api',
      scope: 'api1',
      messagesUrl: 'http://localhost:3000/api/messages',
    });
    assert.ok(
      Object.isFrozen(config) && Object.isFrozen(config.assertion) && Object.isFrozen(config.api),
    );
  });

  it('names every variable at fault in one error, with a fix', () => {
    const problems = problemsOf({
      OIDC_ISSUER: 'ftp://idp.example.com',
      APP_URL: 'not a url',
      SESSION_SECRET: 'short',
      OIDC_SCOPES: 'profile email',
      OIDC_CLIENT_KEY_FILE: join(root, 'missing.pem'),
      OIDC_HTTP_TIMEOUT_MS: '-5',
      OIDC_CLIENT_ASSERTION_LIFETIME: '3600',
      OIDC_CLIENT_ASSERTION_TYP: 'maybe',
      OIDC_CLIENT_AUTH_ALG: 'HS256',
    });
    assert.deepEqual([...problems.keys()].sort(), [
      'APP_URL',
      'OIDC_CLIENT_ASSERTION_LIFETIME',
      'OIDC_CLIENT_ASSERTION_TYP',
      'OIDC_CLIENT_AUTH_ALG',
      'OIDC_CLIENT_KEY_FILE',
      'OIDC_HTTP_TIMEOUT_MS',
      'OIDC_ISSUER',
      'OIDC_SCOPES',
      'SESSION_SECRET',
    ]);
    try {
      parse({ SESSION_SECRET: 'short', OIDC_ISSUER: 'ftp://x', OIDC_CLIENT_KEY_FILE: keyFile });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /2 problems/);
      assert.match(err.message, /SESSION_SECRET: must be at least 32 characters \(got 5\)/);
      assert.match(err.message, /fix: generate one with/);
      assert.match(err.message, /OIDC_ISSUER/);
    }
  });

  it('allows plain http only on loopback hosts', () => {
    for (const host of ['localhost:4000', '127.0.0.1:4000', '[::1]:4000']) {
      assert.equal(
        parse({ OIDC_CLIENT_KEY_FILE: keyFile, OIDC_ISSUER: `http://${host}` }).issuer,
        `http://${host}`,
      );
    }
    assert.match(
      problemsOf({ OIDC_CLIENT_KEY_FILE: keyFile, OIDC_ISSUER: 'http://idp.example.com' }).get(
        'OIDC_ISSUER',
      ) ?? '',
      /plain http/,
    );
    assert.match(
      problemsOf({ OIDC_CLIENT_KEY_FILE: keyFile, APP_URL: 'http://app.example.com' }).get(
        'APP_URL',
      ) ?? '',
      /plain http/,
    );
    // A host that merely starts with "localhost" is not loopback.
    assert.ok(
      problemsOf({
        OIDC_CLIENT_KEY_FILE: keyFile,
        OIDC_ISSUER: 'http://localhost.evil.example',
      }).has('OIDC_ISSUER'),
    );
  });

  it('keeps the issuer exactly as given (it is compared and used as aud verbatim)', () => {
    const config = parse({
      OIDC_CLIENT_KEY_FILE: keyFile,
      OIDC_ISSUER: 'https://idp.example.com/realms/demo/',
    });
    assert.equal(config.issuer, 'https://idp.example.com/realms/demo/');
  });

  it('turns on Secure cookies for an https APP_URL and refuses a path', () => {
    assert.equal(
      parse({ OIDC_CLIENT_KEY_FILE: keyFile, APP_URL: 'https://app.example.com/' }).secureCookies,
      true,
    );
    assert.match(
      problemsOf({ OIDC_CLIENT_KEY_FILE: keyFile, APP_URL: 'https://app.example.com/rp' }).get(
        'APP_URL',
      ) ?? '',
      /has a path/,
    );
  });

  it('never repeats the password of a URL it refuses (MUST: no secret in a log line)', () => {
    const cases: Array<[string, string]> = [
      ['APP_URL', 'https://alice:hunter2-secret@app.example.com'],
      ['APP_URL', 'https://alice:hunter2-secret@app.example.com/rp'],
      ['OIDC_ISSUER', 'http://alice:hunter2-secret@login.example.com'],
      ['OIDC_ISSUER', 'ftp://alice:hunter2-secret@login.example.com'],
      ['OIDC_ISSUER', 'https://alice:hunter2-secret@login example.com'],
      ['OIDC_ISSUER', 'alice:hunter2-secret@login.example.com'],
      ['OIDC_CLIENT_ASSERTION_AUDIENCE', 'https://alice:hunter2-secret@login.example.com/token'],
      ['API_RESOURCE', 'https://alice:hunter2-secret@api example.com/#x'],
    ];
    for (const [variable, raw] of cases) {
      const message = problemsOf({ OIDC_CLIENT_KEY_FILE: keyFile, [variable]: raw }).get(variable);
      assert.ok(message, `${variable}=${raw} is refused`);
      assert.doesNotMatch(message, /hunter2/, `${variable}=${raw}: ${message}`);
      assert.match(message, /\*\*\*@/, 'the message shows where the credentials were');
    }
  });

  it('refuses development defaults in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    assert.match(problems.get('SESSION_SECRET') ?? '', /required in production/);
    assert.match(problems.get('OIDC_CLIENT_KEY_FILE') ?? '', /required in production/);
    // MUST: the bundled provider's loopback issuer and the demo's origin are development
    // defaults. In production an unset OIDC_ISSUER would make whatever listens on port 4000 of the
    // host the provider this app trusts for every sign-in.
    assert.match(problems.get('OIDC_ISSUER') ?? '', /required in production/);
    assert.match(problems.get('APP_URL') ?? '', /required in production/);
    const config = parse({
      NODE_ENV: 'production',
      SESSION_SECRET: secret,
      OIDC_CLIENT_KEY_FILE: keyFile,
      OIDC_ISSUER: 'https://login.example.com',
      APP_URL: 'https://app.example.com',
    });
    assert.equal(config.production, true);
    assert.equal(config.sessionSecretSource, 'env');
  });

  it('flags a key under keys/ as a development key', () => {
    assert.equal(parse({ OIDC_CLIENT_KEY_FILE: keyFile }).clientKeyIsDev, false);
    mkdirSync(join(root, 'keys'), { recursive: true });
    writeFileSync(join(root, 'keys', 'k.json'), '{}');
    assert.equal(parse({ OIDC_CLIENT_KEY_FILE: 'keys/k.json' }).clientKeyIsDev, true);
    assert.match(
      problemsOf({ OIDC_CLIENT_KEY_FILE: 'keys/missing.json' }).get('OIDC_CLIENT_KEY_FILE') ?? '',
      /cannot read/,
    );
  });

  it('parses the JWKS max-age, which the key tool reads alone too', () => {
    assert.equal(parse({ OIDC_CLIENT_KEY_FILE: keyFile }).clientJwksMaxAgeSeconds, 60);
    assert.equal(
      parse({ OIDC_CLIENT_KEY_FILE: keyFile, OIDC_CLIENT_JWKS_MAX_AGE: '5' })
        .clientJwksMaxAgeSeconds,
      5,
    );
    for (const bad of ['-1', '1.5', 'soon', '86401'])
      assert.match(
        problemsOf({ OIDC_CLIENT_KEY_FILE: keyFile, OIDC_CLIENT_JWKS_MAX_AGE: bad }).get(
          'OIDC_CLIENT_JWKS_MAX_AGE',
        ) ?? '',
        /not a whole number from 0 to 86400/,
      );
    assert.equal(parseClientJwksMaxAge({}), 60);
    assert.equal(parseClientJwksMaxAge({ OIDC_CLIENT_JWKS_MAX_AGE: '0' }), 0);
    assert.throws(
      () => parseClientJwksMaxAge({ OIDC_CLIENT_JWKS_MAX_AGE: 'x' }),
      (err: unknown) =>
        err instanceof ConfigError && err.problems[0]?.variable === 'OIDC_CLIENT_JWKS_MAX_AGE',
    );
  });

  it('parses the assertion settings', () => {
    const base = { OIDC_CLIENT_KEY_FILE: keyFile };
    assert.deepEqual(
      parse({ ...base, OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint' }).assertion.audience,
      { mode: 'token_endpoint' },
    );
    assert.deepEqual(
      parse({ ...base, OIDC_CLIENT_ASSERTION_AUDIENCE: 'https://idp.example.com/oauth2/token' })
        .assertion.audience,
      {
        mode: 'url',
        url: 'https://idp.example.com/oauth2/token',
        anyOrigin: false,
      },
    );
    assert.equal(parse({ ...base, OIDC_CLIENT_ASSERTION_TYP: 'false' }).assertion.typ, false);
    assert.equal(
      parse({ ...base, OIDC_CLIENT_ASSERTION_LIFETIME: '300' }).assertion.lifetimeSeconds,
      300,
    );
    assert.ok(
      problemsOf({ ...base, OIDC_CLIENT_ASSERTION_LIFETIME: '301' }).has(
        'OIDC_CLIENT_ASSERTION_LIFETIME',
      ),
    );
    assert.ok(
      problemsOf({ ...base, OIDC_CLIENT_ASSERTION_AUDIENCE: 'somewhere' }).has(
        'OIDC_CLIENT_ASSERTION_AUDIENCE',
      ),
    );
    assert.equal(parse({ ...base, OIDC_CLIENT_AUTH_ALG: 'PS256' }).assertion.alg, 'PS256');
    assert.equal(parse({ ...base, OIDC_CLIENT_AUTH_ALG: 'Ed25519' }).assertion.alg, 'Ed25519');
    assert.ok(problemsOf({ ...base, OIDC_CLIENT_AUTH_ALG: 'ES384' }).has('OIDC_CLIENT_AUTH_ALG'));
  });

  it('sends typ: client-authentication+jwt by default only with the issuer audience', () => {
    const base = { OIDC_CLIENT_KEY_FILE: keyFile };
    const typOf = (env: Env) => parse({ ...base, ...env }).assertion.typ;
    assert.equal(typOf({}), true);
    assert.equal(typOf({ OIDC_CLIENT_ASSERTION_AUDIENCE: 'issuer' }), true);
    // RFC 10070's type announces RFC 10070's audience rule: not with a legacy audience…
    assert.equal(typOf({ OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint' }), false);
    assert.equal(
      typOf({ OIDC_CLIENT_ASSERTION_AUDIENCE: 'https://idp.example.com/oauth2/token' }),
      false,
    );
    // …unless asked for explicitly.
    assert.equal(
      typOf({
        OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint',
        OIDC_CLIENT_ASSERTION_TYP: 'true',
      }),
      true,
    );
    assert.equal(typOf({ OIDC_CLIENT_ASSERTION_TYP: 'false' }), false);
  });

  it('parses the clock-skew cap, the SHA-1 thumbprint switch and the audience force switch', () => {
    const base = { OIDC_CLIENT_KEY_FILE: keyFile };
    assert.equal(parse(base).clockSkewMaxSeconds, 300);
    assert.equal(parse({ ...base, OIDC_CLOCK_SKEW_MAX: '0' }).clockSkewMaxSeconds, 0);
    assert.equal(parse({ ...base, OIDC_CLOCK_SKEW_MAX: '900' }).clockSkewMaxSeconds, 900);
    for (const bad of ['-1', '3601', '1.5', 'lots'])
      assert.ok(problemsOf({ ...base, OIDC_CLOCK_SKEW_MAX: bad }).has('OIDC_CLOCK_SKEW_MAX'), bad);
    assert.equal(parse(base).assertion.x5tSha1, false);
    assert.equal(
      parse({ ...base, OIDC_CLIENT_ASSERTION_X5T_SHA1: 'true' }).assertion.x5tSha1,
      true,
    );
    assert.ok(
      problemsOf({ ...base, OIDC_CLIENT_ASSERTION_X5T_SHA1: 'maybe' }).has(
        'OIDC_CLIENT_ASSERTION_X5T_SHA1',
      ),
    );
    assert.deepEqual(
      parse({
        ...base,
        OIDC_CLIENT_ASSERTION_AUDIENCE: 'https://sts.example.net/token',
        OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE: 'true',
      }).assertion.audience,
      { mode: 'url', url: 'https://sts.example.net/token', anyOrigin: true },
    );
    assert.match(
      problemsOf({ ...base, OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE: 'true' }).get(
        'OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE',
      ) ?? '',
      /only when OIDC_CLIENT_ASSERTION_AUDIENCE is a URL/,
    );
  });

  it('parses the key passphrase (verbatim) and the certificate file', () => {
    const base = { OIDC_CLIENT_KEY_FILE: keyFile };
    assert.equal(parse(base).clientKeyPassphrase, undefined);
    assert.equal(parse({ ...base, OIDC_CLIENT_KEY_PASSPHRASE: '' }).clientKeyPassphrase, undefined);
    assert.equal(
      parse({ ...base, OIDC_CLIENT_KEY_PASSPHRASE: ' spaced secret ' }).clientKeyPassphrase,
      ' spaced secret ',
    );
    assert.equal(parse(base).clientCertFile, undefined);
    writeFileSync(join(root, 'client.crt'), 'readable');
    assert.equal(
      parse({ ...base, OIDC_CLIENT_CERT_FILE: 'client.crt' }).clientCertFile,
      join(root, 'client.crt'),
    );
    assert.match(
      problemsOf({ ...base, OIDC_CLIENT_CERT_FILE: 'missing.crt' }).get('OIDC_CLIENT_CERT_FILE') ??
        '',
      /cannot read/,
    );
  });

  it('parses the API settings: a resource indicator (RFC 8707) and one scope token', () => {
    const base = { OIDC_CLIENT_KEY_FILE: keyFile };
    // The default follows APP_URL, as the bundled provider's does.
    assert.equal(
      parse({ ...base, APP_URL: 'https://app.example.com' }).api.resource,
      'https://app.example.com/api',
    );
    assert.equal(
      parse({ ...base, APP_URL: 'https://app.example.com' }).api.messagesUrl,
      'https://app.example.com/api/messages',
    );
    // Any absolute URI, kept verbatim (it is compared with aud as a string).
    for (const resource of [
      'https://api.example.com',
      'https://api.example.com/',
      'urn:example:api',
      'api://4f1c-demo',
      'http://api.example.com/v1?tenant=a',
    ]) {
      assert.equal(parse({ ...base, API_RESOURCE: resource }).api.resource, resource);
    }
    for (const resource of [
      '/api',
      'api.example.com',
      'https://api.example.com/#x',
      'https://api.example.com#',
    ]) {
      assert.match(
        problemsOf({ ...base, API_RESOURCE: resource }).get('API_RESOURCE') ?? '',
        /absolute URI without a fragment/,
        resource,
      );
    }
    assert.equal(parse({ ...base, API_SCOPE: 'orders:read' }).api.scope, 'orders:read');
    // One token, and nothing that could break out of scope="…" in a WWW-Authenticate header.
    for (const scope of ['api1 api2', 'api"1', 'api\\1', 'äpi', 'api\u0000']) {
      assert.ok(problemsOf({ ...base, API_SCOPE: scope }).has('API_SCOPE'), scope);
    }
  });

  it('keeps sessions in memory by default and in Redis with REDIS_URL; refuses another URL', () => {
    const base = { OIDC_CLIENT_KEY_FILE: keyFile };
    assert.deepEqual(parse(base).sessionStore, { kind: 'memory' });
    for (const url of ['redis://127.0.0.1:6379', 'rediss://user:pw@cache.example.com:6380/2']) {
      assert.deepEqual(parse({ ...base, REDIS_URL: url }).sessionStore, { kind: 'redis', url });
    }
    for (const url of ['http://cache:6379', 'cache:6379', 'not a url']) {
      assert.match(problemsOf({ ...base, REDIS_URL: url }).get('REDIS_URL') ?? '', /redis:\/\//);
    }
    // What the store's client could not use stops the app at start, with the fix.
    for (const url of ['redis://cache/name', 'redis://cache/1/2', 'redis://cache/1.5']) {
      assert.match(
        problemsOf({ ...base, REDIS_URL: url }).get('REDIS_URL') ?? '',
        /not a database number/,
        url,
      );
    }
    assert.match(
      problemsOf({ ...base, REDIS_URL: 'redis://a%zz:pw@cache' }).get('REDIS_URL') ?? '',
      /malformed %-escape/,
    );
    for (const url of ['redis://cache/', 'redis://cache:6380/15', 'redis://us%40er:p%3Ass@cache']) {
      assert.equal(parse({ ...base, REDIS_URL: url }).sessionStore.kind, 'redis', url);
    }
    assert.equal(
      describeRedisUrl('rediss://user:secret@cache.example.com:6380/2'),
      'rediss://cache.example.com:6380/2',
    );
  });

  it('rotates SESSION_SECRET: the current secret seals, previous ones still open, ids stable', () => {
    const base = { OIDC_CLIENT_KEY_FILE: keyFile };
    const old = 'o'.repeat(32);
    const current = 'n'.repeat(40);
    const before = parse({ ...base, SESSION_SECRET: old }).sessionPasswords;
    const after = parse({
      ...base,
      SESSION_SECRET: current,
      SESSION_SECRET_PREVIOUS: old,
    }).sessionPasswords;
    // Alone, a secret seals as iron-session does with a plain string: id "1".
    assert.deepEqual(before.seal, { '1': old });
    assert.deepEqual(before.open['1'], old);
    // Rotating: the new secret seals under its own id; the old one opens what it sealed as "1".
    assert.deepEqual(after.seal, { [sessionPasswordId(current)]: current });
    assert.equal(after.open['1'], old);
    assert.equal(after.open[sessionPasswordId(old)], old);
    assert.equal(after.open[sessionPasswordId(current)], current);
    // Rotation done (previous dropped): "1" again for new cookies, the rotation's still open.
    const done = parse({ ...base, SESSION_SECRET: current }).sessionPasswords;
    assert.deepEqual(done.seal, { '1': current });
    assert.equal(done.open[sessionPasswordId(current)], current);
    assert.ok(
      problemsOf({ ...base, SESSION_SECRET: current, SESSION_SECRET_PREVIOUS: 'short' }).has(
        'SESSION_SECRET_PREVIOUS',
      ),
    );
  });
});
