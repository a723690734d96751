import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { AuthError } from './errors';
import { DISCOVERY_RETRY_MS, getProvider } from './discovery';

/**
 * Discovery against a provider that is failing: the error is a retryable AuthError, and the app
 * asks again only every DISCOVERY_RETRY_MS, not on every request.
 */

let server: Server;
/** Discovery requests (GET of the discovery document). */
let requests = 0;
/** Other requests: the clock probe (an empty POST to the token endpoint) after discovery. */
const others: string[] = [];
let healthy = false;
let issuer: string;

before(async () => {
  server = createServer((req, res) => {
    if (req.url !== '/.well-known/openid-configuration') {
      others.push(`${req.method} ${req.url}`);
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_request"}');
      return;
    }
    requests++;
    if (!healthy) {
      res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>Service Unavailable</h1>');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
      }),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  issuer = `http://localhost:${address.port}`;
  const keyFile = join(mkdtempSync(join(tmpdir(), 'rp-discovery-')), 'client.pem');
  writeFileSync(
    keyFile,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }),
  );
  Object.assign(process.env, {
    OIDC_ISSUER: issuer,
    APP_URL: 'http://localhost:3996',
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
  });
});

after(() => server.close());

describe('discovery of a failing provider', () => {
  it('fails with a retryable error, then waits before asking again', async () => {
    const refused = (err: unknown) => err instanceof AuthError && err.code === 'discovery_failed';
    await assert.rejects(getProvider(), refused);
    assert.equal(requests, 1);
    healthy = true;
    for (let i = 0; i < 20; i++) await assert.rejects(getProvider(), refused);
    assert.equal(requests, 1, 'no request while the failure is fresh');
    await new Promise((resolve) => setTimeout(resolve, DISCOVERY_RETRY_MS + 50));
    const { metadata } = await getProvider();
    assert.equal(metadata.issuer, issuer);
    assert.equal(requests, 2);
    assert.deepEqual(others, ['POST /token'], 'one clock probe, after the successful discovery');
  });
});
