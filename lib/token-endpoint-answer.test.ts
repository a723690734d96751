import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';

import * as client from 'openid-client';

import { classifyClientCredentialsError } from './client-credentials';
import { classifyRefreshError } from './token-refresh';
import {
  classifyTokenEndpointRefusal,
  describeTokenEndpointAnswer,
  judgeClientAuthentication,
  readTokenEndpointAnswer,
} from './token-endpoint-answer';

/**
 * How token endpoint answers are judged, from their structure: a refusal without an OAuth JSON
 * error (an empty 403 from a gateway, an HTML page) is a probable client-authentication failure,
 * not a malformed token response. The answers come from a real HTTP server through openid-client.
 */

type Answer = { status: number; headers?: Record<string, string>; body?: string };
let next: Answer = { status: 200 };
let server: Server;
let issuer: string;

before(async () => {
  server = createServer((_req, res) => {
    res.writeHead(next.status, next.headers ?? {});
    res.end(next.body ?? '');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  issuer = `http://127.0.0.1:${address.port}`;
});

after(() => {
  server.close();
  server.closeAllConnections();
});

/** A client-credentials request through openid-client; resolves with what it threw. */
async function failureFor(answer: Answer): Promise<unknown> {
  next = answer;
  const config = new client.Configuration(
    { issuer, token_endpoint: `${issuer}/token` },
    'client',
    undefined,
    client.None(),
  );
  client.allowInsecureRequests(config);
  try {
    await client.clientCredentialsGrant(config, {});
  } catch (err) {
    return err;
  }
  assert.fail('the request succeeded');
}

async function answerFor(answer: Answer) {
  next = answer;
  return readTokenEndpointAnswer(await fetch(`${issuer}/token`, { method: 'POST' }));
}

describe('a token endpoint refusal without an OAuth error', () => {
  it('403 with an empty body: probably client authentication', async () => {
    const err = await failureFor({ status: 403 });
    const classified = classifyTokenEndpointRefusal(err);
    assert.equal(classified?.code, 'client_authentication_likely_failed');
    assert.match(classified?.detail ?? '', /403 with no content type/);
    // The same in the client-credentials path (npm run client-credentials, /machine) and the
    // refresh path (the user's API token).
    assert.equal(classifyClientCredentialsError(err).code, 'client_authentication_likely_failed');
    assert.equal(classifyRefreshError(err).code, 'client_authentication_likely_failed');
  });

  it('400 with an HTML page, 401 with plain text: probably client authentication', async () => {
    for (const answer of [
      { status: 400, headers: { 'content-type': 'text/html' }, body: '<h1>Bad Request</h1>' },
      { status: 401, headers: { 'content-type': 'text/plain' }, body: 'Unauthorized' },
      { status: 400, headers: { 'content-type': 'application/json' }, body: '{"message":"no"}' },
    ]) {
      const classified = classifyTokenEndpointRefusal(await failureFor(answer));
      assert.equal(classified?.code, 'client_authentication_likely_failed', JSON.stringify(answer));
    }
  });

  it('401 with a challenge and no body: invalid_client (RFC 6749 §5.2)', async () => {
    const err = await failureFor({
      status: 401,
      headers: { 'www-authenticate': 'Basic realm="op", error="invalid_client"' },
    });
    const classified = classifyTokenEndpointRefusal(err);
    assert.equal(classified?.code, 'client_authentication_failed');
    assert.equal(classified?.error, 'invalid_client');
    assert.equal(classifyClientCredentialsError(err).code, 'client_authentication_failed');
  });

  it(
    '401 with a JSON error other than invalid_client (Keycloak: unauthorized_client) is client ' +
      'authentication',
    async () => {
      const err = await failureFor({
        status: 401,
        headers: { 'content-type': 'application/json' },
        body: '{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}',
      });
      const classified = classifyClientCredentialsError(err);
      assert.equal(classified.code, 'client_authentication_failed');
      assert.equal(classified.error, 'unauthorized_client');
      // 400 unauthorized_client stays what RFC 6749 §5.2 says: the grant is not allowed.
      const grant = await failureFor({
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: '{"error":"unauthorized_client"}',
      });
      assert.equal(classifyClientCredentialsError(grant).code, 'grant_not_allowed');
    },
  );

  it('leaves alone what is not a refusal: a JSON error, a 500 page, a 404 page', async () => {
    const json = await failureFor({
      status: 401,
      headers: { 'content-type': 'application/json' },
      body: '{"error":"invalid_client"}',
    });
    assert.equal(classifyTokenEndpointRefusal(json), undefined);
    assert.equal(classifyClientCredentialsError(json).code, 'client_authentication_failed');
    for (const status of [500, 404]) {
      const err = await failureFor({
        status,
        headers: { 'content-type': 'text/html' },
        body: '<p>x</p>',
      });
      assert.equal(classifyTokenEndpointRefusal(err), undefined, String(status));
      assert.notEqual(
        classifyClientCredentialsError(err).code,
        'client_authentication_likely_failed',
      );
    }
  });
});

describe('reading and judging a token endpoint answer', () => {
  it('invalid_grant and a token pass client authentication; 400/401/403 otherwise refuse it', async () => {
    const json = { 'content-type': 'application/json; charset=utf-8' };
    const grant = await answerFor({
      status: 400,
      headers: json,
      body: '{"error":"invalid_grant"}',
    });
    assert.equal(judgeClientAuthentication(grant), 'authenticated');
    const token = await answerFor({
      status: 200,
      headers: json,
      body: '{"access_token":"secret-value","token_type":"bearer"}',
    });
    assert.equal(judgeClientAuthentication(token), 'authenticated');
    assert.deepEqual(token.members, ['access_token', 'token_type']);
    assert.ok(!JSON.stringify(token).includes('secret-value'), 'values are never kept');
    const refused = await answerFor({
      status: 401,
      headers: json,
      body: '{"error":"invalid_client","error_description":"bad aud"}',
    });
    assert.equal(judgeClientAuthentication(refused), 'refused');
    assert.equal(describeTokenEndpointAnswer(refused), '401 invalid_client: bad aud');
    const empty = await answerFor({ status: 403 });
    assert.equal(judgeClientAuthentication(empty), 'refused');
    assert.equal(describeTokenEndpointAnswer(empty), '403, empty body');
    const page = await answerFor({
      status: 400,
      headers: { 'content-type': 'text/html', 'www-authenticate': 'Basic realm="x"' },
      body: '<html>no</html>',
    });
    assert.equal(
      describeTokenEndpointAnswer(page),
      '400, text/html (15 bytes), not an OAuth JSON answer, WWW-Authenticate: Basic realm="x"',
    );
    assert.equal(judgeClientAuthentication(await answerFor({ status: 502 })), 'unclear');
  });

  it('invalid_grant on a 400 or a 403 passes client authentication (Auth0 answers 403)', async () => {
    // Auth0 answers a bad code with 403 {"error":"invalid_grant","error_description":"Invalid
    // authorization code"} once the client is authenticated; the OAuth error code says which check
    // failed (RFC 6749 §5.2: "400 unless specified otherwise"). A 401 stays client authentication,
    // as everywhere in the app.
    const json = { 'content-type': 'application/json' };
    for (const status of [400, 403]) {
      const grant = await answerFor({
        status,
        headers: json,
        body: '{"error":"invalid_grant","error_description":"Invalid authorization code"}',
      });
      assert.equal(judgeClientAuthentication(grant), 'authenticated', String(status));
    }
    for (const body of ['{"error":"invalid_client"}', '{"error":"access_denied"}']) {
      const refused = await answerFor({ status: 403, headers: json, body });
      assert.equal(judgeClientAuthentication(refused), 'refused', body);
    }
    const challenged = await answerFor({
      status: 401,
      headers: json,
      body: '{"error":"invalid_grant"}',
    });
    assert.equal(judgeClientAuthentication(challenged), 'refused');
  });
  it('an Entra ID description on several lines, or with terminal escapes, is read as one line', async () => {
    // Entra ID puts Trace ID, Correlation ID and Timestamp on lines of their own (CRLF); RFC 6749
    // §5.2 allows no control character in error_description, and the doctor prints it to a terminal.
    const answer = await answerFor({
      status: 401,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({
        error: 'invalid_client',
        error_description:
          'AADSTS700027: Client assertion failed signature validation.\r\nTrace ID: 1f\r\n' +
          'Correlation ID: 2e\r\nTimestamp: 2026-12-01 10:00:00Z\u001b[2J\u001b]0;x\u0007',
        error_codes: [700027],
      }),
    });
    assert.equal(
      describeTokenEndpointAnswer(answer),
      '401 invalid_client: AADSTS700027: Client assertion failed signature validation. Trace ID: 1f ' +
        'Correlation ID: 2e Timestamp: 2026-12-01 10:00:00Z [2J ]0;x',
    );
  });
});
