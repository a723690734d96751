import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { AuthError, ConfigError } from './errors';
import { KEY_FILE_CHECK_INTERVAL_MS, loadClientKeySet } from './keys';
import { findIncompatibility, getProvider } from './discovery';
import { completeSignIn } from './sign-in';

/**
 * The app stops, before sending anything to the token endpoint, when the provider does not accept
 * the algorithm its signing key would use — at discovery, and again for a key promoted later.
 * A stand-in provider serves only metadata and records every request.
 */

const requests: string[] = [];
let algs: string[] = ['PS256', 'ES256'];
let server: Server;
let issuer: string;
let keyFile: string;

function writeKey(pem: string): void {
  writeFileSync(`${keyFile}.tmp`, pem);
  renameSync(`${keyFile}.tmp`, keyFile);
}

before(async () => {
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: algs,
      }),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  issuer = `http://localhost:${address.port}`;
  keyFile = join(mkdtempSync(join(tmpdir(), 'rp-compat-')), 'client.pem');
  writeKey(
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string,
  );
  Object.assign(process.env, {
    OIDC_ISSUER: issuer,
    APP_URL: 'http://localhost:3997',
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
  });
});

after(() => server.close());

describe('a provider that does not accept the client’s signing algorithm', () => {
  it('stops at discovery with a ConfigError that names OIDC_CLIENT_AUTH_ALG and the fix', async () => {
    await assert.rejects(getProvider(), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems[0]?.variable, 'OIDC_CLIENT_AUTH_ALG');
      assert.match(err.message, /would sign with RS256 .* accepts only PS256, ES256/);
      assert.match(err.message, /set OIDC_CLIENT_AUTH_ALG=PS256/);
      return true;
    });
    assert.deepEqual(requests, ['GET /.well-known/openid-configuration']);
  });

  it('refuses to sign with a key promoted later that the provider does not accept, and sends nothing', async () => {
    algs = ['ES256'];
    writeKey(
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    );
    await new Promise((resolve) => setTimeout(resolve, KEY_FILE_CHECK_INTERVAL_MS + 50));
    await getProvider();
    // The provider now accepts ES256 only, and an RSA key is promoted while the app runs.
    writeKey(
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    );
    await new Promise((resolve) => setTimeout(resolve, KEY_FILE_CHECK_INTERVAL_MS + 50));
    requests.length = 0;
    const transaction = {
      state: 's',
      nonce: 'n',
      code_verifier: 'v'.repeat(43),
      returnTo: '/',
      created_at: 0,
    };
    const callback = new URLSearchParams({ code: 'c', state: 's', iss: issuer });
    await assert.rejects(completeSignIn(callback, transaction), (err: unknown) => {
      assert.ok(err instanceof AuthError);
      assert.equal(err.code, 'app_misconfigured');
      assert.match(err.detail ?? '', /OIDC_CLIENT_AUTH_ALG: the client would sign with RS256/);
      return true;
    });
    assert.deepEqual(requests, [], 'no token request was sent');
  });
});

describe('findIncompatibility', () => {
  const metadata = {
    issuer: 'https://idp.example.com',
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'ES256'],
    id_token_signing_alg_values_supported: ['RS256', 'ES256'],
  };

  it('accepts a provider that supports the method, the assertion alg and the ID token alg', async () => {
    const { signing } = await loadClientKeySet(keyFile);
    assert.equal(findIncompatibility(metadata, signing, 'RS256'), undefined);
    assert.equal(
      findIncompatibility({ issuer: metadata.issuer }, signing, 'RS256'),
      undefined,
      'unpublished lists restrict nothing',
    );
  });

  it('names the setting at fault', async () => {
    const { signing } = await loadClientKeySet(keyFile);
    assert.equal(
      findIncompatibility(
        { ...metadata, token_endpoint_auth_methods_supported: ['client_secret_basic'] },
        signing,
        'RS256',
      )?.variable,
      'OIDC_ISSUER',
    );
    const idToken = findIncompatibility(
      { ...metadata, id_token_signing_alg_values_supported: ['ES256'] },
      signing,
      'RS256',
    );
    assert.equal(idToken?.variable, 'OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG');
    assert.match(idToken?.message ?? '', /signs with ES256/);
    assert.equal(
      findIncompatibility(
        { ...metadata, id_token_signing_alg_values_supported: ['ES256'] },
        signing,
        'ES256',
      ),
      undefined,
    );
  });
});
