import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import * as client from 'openid-client';

import { requestApi } from './api-call';

/**
 * How an API's refusal is read: a token the API refuses as `invalid_token` is told apart from any
 * other answer by the parsed challenges (openid-client), in every form RFC 9110 §11.2 allows for a
 * challenge, not by the text of the header.
 */

describe('requestApi: which answers refuse the token itself', () => {
  let server: Server;
  let origin = '';
  let config: client.Configuration;
  const seen: Array<string | undefined> = [];

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const challenge = new URL(req.url ?? '/', 'http://x').searchParams.get('challenge');
      const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 401);
      res.writeHead(status, {
        'content-type': 'application/json',
        ...(challenge === null ? {} : { 'www-authenticate': challenge }),
      });
      res.end('{"error":"refused"}');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    config = new client.Configuration({ issuer: 'http://issuer.test' }, 'client');
    client.allowInsecureRequests(config);
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const ask = (challenge: string | undefined, status = 401) => {
    const url = new URL('/api/messages', origin);
    if (challenge !== undefined) url.searchParams.set('challenge', challenge);
    url.searchParams.set('status', String(status));
    return requestApi(config, url.href, 'token-1');
  };

  it('takes every form of an invalid_token challenge (RFC 6750 §3, RFC 9110 §11.2)', async () => {
    for (const challenge of [
      'Bearer error="invalid_token"',
      'Bearer realm="api", error="invalid_token", error_description="expired"',
      'bearer error=invalid_token',
      'Bearer error = "invalid_token"',
      'Basic realm="api", Bearer error="invalid_token"',
      'DPoP algs="ES256", error="invalid_token"',
    ]) {
      const answer = await ask(challenge);
      assert.equal(answer.status, 401, challenge);
      assert.equal(answer.tokenRefused, true, challenge);
      assert.equal(answer.wwwAuthenticate, challenge);
    }
    assert.equal(seen.at(-1), 'Bearer token-1', 'the token goes as a bearer token');
  });

  it('takes no other answer for a refused token', async () => {
    for (const [challenge, status] of [
      ['Bearer error="insufficient_scope", scope="api1"', 403],
      ['Bearer error="insufficient_scope"', 401],
      ['Bearer realm="api"', 401],
      ['Bearer error_description="invalid_token"', 401],
      ['Basic error="invalid_token"', 401],
      ['Bearer error="invalid_token"', 403],
      [undefined, 401],
      ['not a challenge ,,, "', 401],
    ] as const) {
      const answer = await ask(challenge, status);
      assert.equal(answer.status, status, String(challenge));
      assert.equal(answer.tokenRefused, false, String(challenge));
    }
  });
});
