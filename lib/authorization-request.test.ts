import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as client from 'openid-client';

import { buildAuthorizationRequest } from './authorization-request';
import type { AppConfig } from './config';
import type { ProviderContext } from './discovery';
import { AuthError } from './errors';
import type { ProviderJwks } from './provider-jwks';

/**
 * The authorization request against provider metadata that the bundled provider does not
 * produce: a PAR endpoint answered here by a scripted fetch, so that each test states exactly
 * what the provider publishes and answers.
 */

const issuer = 'https://op.example.com';

const protocol: AppConfig['protocol'] = {
  profile: 'plain',
  par: 'on',
  dpop: { enabled: false, alg: 'ES256' },
  assertionAlgs: undefined,
  requireIssParameter: false,
  apiDpop: { advertised: false, required: false, nonce: false, algorithms: ['ES256'] },
};

function providerWith(
  metadata: Partial<client.ServerMetadata>,
  par: (body: URLSearchParams) => Response = () =>
    Response.json(
      { request_uri: 'urn:ietf:params:oauth:request_uri:abc', expires_in: 60 },
      { status: 201 },
    ),
): { provider: ProviderContext; pushed: URLSearchParams[] } {
  const full: client.ServerMetadata = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    pushed_authorization_request_endpoint: `${issuer}/par`,
    ...metadata,
  };
  const config = new client.Configuration(full, 'client-1', undefined, client.None());
  const pushed: URLSearchParams[] = [];
  config[client.customFetch] = async (_url, options) => {
    const body = new URLSearchParams(String(options.body));
    pushed.push(body);
    return par(body);
  };
  const provider: ProviderContext = {
    config,
    metadata: full,
    jwks: {} as unknown as ProviderJwks,
  };
  return { provider, pushed };
}

const parameters = {
  redirect_uri: 'https://app.example.com/auth/callback',
  scope: 'openid',
  response_type: 'code',
  state: 'state-1',
};

describe('the pushed authorization request (RFC 9126)', () => {
  it('sends the browser with client_id and request_uri only', async () => {
    const { provider, pushed } = providerWith({});
    const { url } = await buildAuthorizationRequest(provider, { protocol }, parameters);
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.equal(pushed[0]?.get('state'), 'state-1');
  });

  it('keeps the query the authorization endpoint itself carries (RFC 6749 §3.1)', async () => {
    // A provider that serves several tenants or policies from one endpoint, told apart by a query
    // parameter of the endpoint URL (ForgeRock's `realm`, Azure AD B2C's `p`). RFC 6749 §3.1: that
    // query MUST be retained; it is not part of the request, and it does not undo PAR.
    const { provider } = providerWith({
      authorization_endpoint: `${issuer}/oauth2/authorize?realm=%2Falpha`,
    });
    const { url, par } = await buildAuthorizationRequest(provider, { protocol }, parameters);
    assert.equal(url.searchParams.get('realm'), '/alpha');
    assert.equal(url.searchParams.get('request_uri'), 'urn:ietf:params:oauth:request_uri:abc');
    assert.equal(url.searchParams.get('state'), null, 'the request itself stays pushed');
    assert.equal(par?.request_uri, 'urn:ietf:params:oauth:request_uri:abc');
  });

  it('still refuses a URL that would carry request parameters beyond the endpoint’s own', async () => {
    // The endpoint's own query names `state`: an authorization URL would then carry a request
    // parameter on the front channel after all, which PAR exists to avoid.
    const { provider } = providerWith({
      authorization_endpoint: `${issuer}/authorize?state=leak`,
    });
    await assert.rejects(
      buildAuthorizationRequest(provider, { protocol }, parameters),
      (err: unknown) => err instanceof AuthError && err.code === 'par_request_failed',
    );
  });
});
