import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { getProvider } from './discovery';
import { ConfigError } from './errors';
import { writeClientKeyFile } from './client-key-test-support';

/**
 * An `OIDC_CLIENT_ASSERTION_AUDIENCE` URL on an origin that is neither the issuer's nor the token
 * endpoint's stops the app at discovery, before anything is signed or sent to the token endpoint
 * (an assertion for another origin authenticates this client at another server).
 */

let server: Server;
const requests: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const issuer = `http://localhost:${(server.address() as { port: number }).port}`;
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
  const keyFile = writeClientKeyFile('rp-audience-');
  Object.assign(process.env, {
    OIDC_ISSUER: `http://localhost:${(server.address() as { port: number }).port}`,
    APP_URL: 'http://localhost:3995',
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
    OIDC_CLIENT_ASSERTION_AUDIENCE: 'https://sts.elsewhere.example/oauth2/token',
  });
});

after(() => server.close());

describe('an assertion audience on another origin', () => {
  it('stops discovery with a ConfigError naming the variable and the force switch', async () => {
    await assert.rejects(getProvider(), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.problems[0]?.variable, 'OIDC_CLIENT_ASSERTION_AUDIENCE');
      assert.match(err.message, /not on the provider's origin/);
      assert.match(err.message, /OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE=true/);
      return true;
    });
    assert.deepEqual(requests, ['GET /.well-known/openid-configuration'], 'nothing else sent');
  });
});
