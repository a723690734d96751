import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { CookieJar, createAgent, get, postForm } from './http';

describe('CookieJar', () => {
  it('keeps what Set-Cookie stores and drops what it expires', () => {
    const jar = new CookieJar();
    jar.store(['a=1; Path=/; HttpOnly', 'b=2', '__Host-c=x=y; Secure; Path=/']);
    assert.equal(jar.header(), 'a=1; b=2; __Host-c=x=y');
    jar.store([
      'a=; Max-Age=0',
      'b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
      '__Host-c=; Path=/',
      'd=4; Max-Age=60',
    ]);
    assert.deepEqual(jar.names(), ['d']);
  });

  it('sends no Cookie header when empty', () => {
    assert.equal(new CookieJar().header(), undefined);
  });
});

describe('get / postForm', () => {
  let server: Server;
  let base: URL;
  const seen: { method?: string; cookie?: string; body?: string }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, cookie: req.headers.cookie, body });
        res.writeHead(303, { location: '/next', 'set-cookie': ['s=1; Path=/'] });
        res.end('moved');
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('no port');
    base = new URL(`http://127.0.0.1:${address.port}`);
  });
  after(() => new Promise<void>((done) => server.close(() => done())));

  it('does not follow redirects, stores cookies, and sends them back', async () => {
    const jar = new CookieJar();
    const agent = createAgent(1);
    const first = await get(new URL('/start', base), jar, agent);
    assert.equal(first.status, 303);
    assert.equal(first.location, '/next');
    assert.equal(first.body, 'moved');
    await postForm(new URL('/form', base), new URLSearchParams({ login: 'alice' }), jar, agent);
    agent.destroy();
    assert.equal(seen[0]?.cookie, undefined);
    assert.deepEqual(seen[1], { method: 'POST', cookie: 's=1', body: 'login=alice' });
  });
});
