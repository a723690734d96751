import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import type Provider from 'oidc-provider';

import { driveSignIn } from '../provider/drive-sign-in';
import { startInProcessProvider } from '../e2e/support/in-process-provider';
import { createClientAuthentication } from './client-assertion';
import {
  createApiTokenCache,
  getApiAccessToken,
  requestClientCredentialsToken,
} from './client-credentials';
import { getConfig } from './config';
import { AuthError } from './errors';
import { loadClientKeySet } from './keys';
import { callApiWithClientCredentials } from './machine-call';
import { answerMessagesRequest } from './messages-api';
import { getProvider } from './discovery';
import { completeSignIn, startSignIn } from './sign-in';
import { authorizeApiRequest } from './resource-server';

/**
 * Machine to machine against the real bundled provider, in this process: the client-credentials
 * grant with a client assertion, the token cache counted at the provider, and the protected API
 * judging real tokens (the access token it should accept, and the sign-in tokens it must not),
 * served over HTTP at APP_URL by the same code as the route handler.
 */

let appUrl: string;
let apiResource: string;
let issuer: string;
let server: Server;
let apiServer: Server;
/** How the API at APP_URL treats the next requests: as the route does, or refusing the token. */
let apiMode: 'normal' | 'refuse-next' | 'refuse-all' = 'normal';

/** The app's GET /api/messages over HTTP: lib/messages-api.ts, as the route handler runs it. */
async function serveApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value])
      headers.append(name, item);
  }
  let response: Response;
  if (apiMode !== 'normal' && req.url?.startsWith('/api/messages')) {
    if (apiMode === 'refuse-next') apiMode = 'normal';
    // What the API answers for a revoked token, or after the provider's keys changed.
    response = new Response(null, {
      status: 401,
      headers: {
        'www-authenticate':
          'Bearer realm="api", error="invalid_token", error_description="revoked"',
      },
    });
  } else {
    response = await answerMessagesRequest(
      new Request(`${appUrl}${req.url ?? '/'}`, { headers }),
      authorizeApiRequest,
    );
  }
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
}
let provider: Provider;
/** client_credentials token requests the provider answered, successfully or not. */
const grants = { success: 0, error: 0 };
/** HTTP requests to the token endpoint, as the provider's server received them. */
let tokenPosts = 0;

before(async () => {
  apiServer = createHttpServer((req, res) => void serveApi(req, res));
  await new Promise<void>((done) => apiServer.listen(0, 'localhost', done));
  const apiAddress = apiServer.address();
  assert.ok(apiAddress && typeof apiAddress === 'object');
  appUrl = `http://localhost:${apiAddress.port}`;
  apiResource = `${appUrl}/api`;
  ({ issuer, server, provider } = await startInProcessProvider(appUrl));
  server.on('request', (req) => {
    if (req.method === 'POST' && req.url?.startsWith('/token')) tokenPosts++;
  });
  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params?.grant_type === 'client_credentials') grants.success++;
  });
  provider.on('grant.error', (ctx) => {
    if (ctx.oidc.params?.grant_type === 'client_credentials') grants.error++;
  });
});

after(() => {
  for (const s of [server, apiServer]) {
    s.close();
    s.closeAllConnections();
  }
});

function apiRequest(authorization?: string): Request {
  return new Request(`${appUrl}/api/messages`, { headers: authorization ? { authorization } : {} });
}

/** An openid-client Configuration for this provider that signs with a key the provider does not know. */
async function configWithUnknownKey(): Promise<client.Configuration> {
  const dir = mkdtempSync(join(tmpdir(), 'rp-cc-stranger-'));
  const file = join(dir, 'stranger.pem');
  writeFileSync(
    file,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }),
  );
  const keys = await loadClientKeySet(file);
  return client.discovery(
    new URL(issuer),
    'client_using_jwt',
    { token_endpoint_auth_method: 'private_key_jwt' },
    createClientAuthentication(getConfig().assertion, {
      keys: async () => keys,
      clockSkew: () => 0,
    }),
    {
      execute: [client.allowInsecureRequests],
    },
  );
}

describe('client-credentials grant against the bundled provider', () => {
  it('gets an RFC 9068 JWT access token for the API, authenticated by a fresh client assertion', async () => {
    const lease = await getApiAccessToken();
    assert.equal(lease.source, 'token_endpoint');
    const { token } = lease;
    assert.equal(token.token_type, 'bearer');
    assert.equal(token.expires_in, 300);
    assert.equal(token.scope, 'api1');

    const header = decodeProtectedHeader(token.access_token);
    const claims = decodeJwt(token.access_token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'RS256');
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, apiResource);
    assert.equal(claims.client_id, 'client_using_jwt');
    assert.equal(claims.sub, 'client_using_jwt');
    assert.equal(claims.scope, 'api1');
    assert.equal(Number(claims.exp) - Number(claims.iat), 300);
    assert.ok(typeof claims.jti === 'string' && claims.jti.length > 0);

    // The same client authentication as sign-in: RFC 10070 audience and type, short-lived.
    assert.ok(token.clientAssertion);
    const assertionHeader = decodeProtectedHeader(token.clientAssertion);
    const assertion = decodeJwt(token.clientAssertion);
    assert.equal(assertionHeader.typ, 'client-authentication+jwt');
    assert.equal(assertion.aud, issuer);
    assert.equal(assertion.iss, 'client_using_jwt');
    assert.equal(assertion.sub, 'client_using_jwt');
    assert.equal(Number(assertion.exp) - Number(assertion.iat), 60);
    assert.deepEqual(
      token.trace.requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`),
      ['POST /token 200'],
    );
  });

  it('100 concurrent callers cause exactly one token request (counted at the provider)', async () => {
    const { config } = await getProvider();
    const { api } = getConfig();
    const cache = createApiTokenCache(config, { resource: api.resource, scope: api.scope });
    const before = { grants: grants.success, posts: tokenPosts };
    const leases = await Promise.all(Array.from({ length: 100 }, () => cache.get()));
    assert.equal(tokenPosts - before.posts, 1, 'HTTP requests to the token endpoint');
    assert.equal(grants.success - before.grants, 1, 'tokens issued');
    assert.equal(new Set(leases.map((l) => l.token.access_token)).size, 1);
    assert.equal(leases.filter((l) => l.source === 'token_endpoint').length, 1);
    assert.equal(leases.filter((l) => l.source === 'in_flight').length, 99);

    const again = await Promise.all(Array.from({ length: 100 }, () => cache.get()));
    assert.equal(tokenPosts - before.posts, 1);
    assert.ok(again.every((l) => l.source === 'cache'));
  });

  it('signs a new assertion for every token request', async () => {
    const { config } = await getProvider();
    const { api } = getConfig();
    const first = await requestClientCredentialsToken(config, {
      resource: api.resource,
      scope: api.scope,
    });
    const second = await requestClientCredentialsToken(config, {
      resource: api.resource,
      scope: api.scope,
    });
    assert.ok(first.clientAssertion && second.clientAssertion);
    assert.notEqual(first.clientAssertion, second.clientAssertion);
    assert.notEqual(decodeJwt(first.clientAssertion).jti, decodeJwt(second.clientAssertion).jti);
    assert.notEqual(first.access_token, second.access_token);
  });

  it('reports invalid_client as client_authentication_failed, and caches nothing', async () => {
    const { api } = getConfig();
    const cache = createApiTokenCache(await configWithUnknownKey(), {
      resource: api.resource,
      scope: api.scope,
    });
    const before = grants.error;
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(cache.get(), (err: unknown) => {
        assert.ok(err instanceof AuthError);
        assert.equal(err.code, 'client_authentication_failed');
        assert.equal(err.error, 'invalid_client');
        return true;
      });
    }
    assert.equal(grants.error - before, 2, 'each call asked the provider again');
  });

  it('defaults to the API at the bundled provider when no resource is sent', async () => {
    const { config } = await getProvider();
    const response = await client.clientCredentialsGrant(config, { scope: 'api1' });
    assert.equal(decodeProtectedHeader(response.access_token).typ, 'at+jwt');
    assert.equal(decodeJwt(response.access_token).aud, apiResource);
  });

  it('reports an API the provider does not know as api_target_rejected', async () => {
    const { config } = await getProvider();
    await assert.rejects(
      requestClientCredentialsToken(config, {
        resource: 'https://unknown.example/api',
        scope: 'api1',
      }),
      (err: unknown) => {
        assert.ok(err instanceof AuthError);
        assert.equal(err.code, 'api_target_rejected');
        assert.equal(err.error, 'invalid_target');
        return true;
      },
    );
  });
});

describe('the protected API judging real tokens of the bundled provider', () => {
  it('accepts the client-credentials access token', async () => {
    const { token } = await getApiAccessToken();
    const res = await answerMessagesRequest(
      apiRequest(`Bearer ${token.access_token}`),
      authorizeApiRequest,
    );
    assert.equal(res.status, 200);
    const body = (await res.json()) as { caller: { client_id: string; scope: string } };
    assert.deepEqual(body.caller, {
      client_id: 'client_using_jwt',
      sub: 'client_using_jwt',
      scope: 'api1',
    });
  });

  it('answers 403 insufficient_scope for an API token without the api1 scope', async () => {
    const { config } = await getProvider();
    const token = await requestClientCredentialsToken(config, { resource: apiResource, scope: '' });
    assert.equal(decodeJwt(token.access_token).scope, undefined);
    const res = await answerMessagesRequest(
      apiRequest(`Bearer ${token.access_token}`),
      authorizeApiRequest,
    );
    assert.equal(res.status, 403);
    assert.match(
      res.headers.get('www-authenticate') ?? '',
      /error="insufficient_scope".*scope="api1"/,
    );
  });

  it('refuses the ID token of a real sign-in (401 invalid_token)', async () => {
    const { url, transaction } = await startSignIn('/profile');
    const callback = await driveSignIn(url, {
      login: 'alice',
      password: 'alice-password',
      redirectUri: `${appUrl}/auth/callback`,
    });
    const signIn = await completeSignIn(callback.searchParams, transaction);
    const idTokenResponse = await answerMessagesRequest(
      apiRequest(`Bearer ${signIn.id_token}`),
      authorizeApiRequest,
    );
    assert.equal(idTokenResponse.status, 401);
    assert.match(
      idTokenResponse.headers.get('www-authenticate') ?? '',
      /error="invalid_token", error_description="Not an access token/,
    );
    assert.equal(signIn.claims.aud, 'client_using_jwt');
  });
});

describe('token and API call together (what /machine and the command run)', () => {
  it('calls the API over HTTP with the cached token; the result holds no compact token', async () => {
    const outcome = await callApiWithClientCredentials();
    assert.ok(outcome.ok);
    assert.equal(outcome.api.status, 200);
    assert.equal(outcome.token.source, 'cache', 'filled by the tests above');
    assert.equal(outcome.token.accessToken?.header.typ, 'at+jwt');
    assert.equal(outcome.token.assertion?.header.typ, 'client-authentication+jwt');
    const { token } = await getApiAccessToken();
    const shown = JSON.stringify(outcome);
    assert.ok(
      !shown.includes(token.access_token) &&
        !shown.includes(token.access_token.split('.')[2] ?? '-'),
      'the access token is shown decoded only',
    );
    assert.ok(token.clientAssertion && !shown.includes(token.clientAssertion));
  });

  it('replaces a cached token the API refuses as invalid_token, once', async () => {
    apiMode = 'refuse-next';
    const before = tokenPosts;
    const outcome = await callApiWithClientCredentials();
    assert.ok(outcome.ok);
    assert.equal(outcome.retriedWithNewToken, true);
    assert.equal(outcome.api.status, 200);
    assert.equal(outcome.token.source, 'token_endpoint');
    assert.equal(tokenPosts - before, 1);

    // A new token refused as well is not retried again: the refusal is the answer.
    apiMode = 'refuse-all';
    try {
      const refused = await callApiWithClientCredentials();
      assert.ok(refused.ok);
      assert.equal(refused.api.status, 401);
      assert.equal(refused.retriedWithNewToken, true);
      assert.equal(tokenPosts - before, 2);
    } finally {
      apiMode = 'normal';
    }
  });
});
