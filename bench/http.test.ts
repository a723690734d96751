import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';

import { CookieJar, createAgent, decodeBody, get, postForm } from './http';

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
  let accepted: string | undefined;

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, cookie: req.headers.cookie, body });
        if (req.url === '/json') {
          // As Next.js answers a client that accepts gzip.
          accepted = req.headers['accept-encoding'];
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          res.end(gzipSync('{"sub":"alice"}'));
          return;
        }
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

  it('asks for compressed bodies as Chromium does, and hands them back decoded', async () => {
    const reply = await get(new URL('/json', base), undefined, false);
    assert.equal(accepted, 'gzip, deflate, br, zstd');
    assert.equal(reply.body, '{"sub":"alice"}');
  });
});

describe('decodeBody', () => {
  const text = 'x'.repeat(500);
  it('decodes every encoding the client asks for, and passes identity through', () => {
    for (const [encoding, encoded] of [
      ['gzip', gzipSync(text)],
      ['deflate', deflateSync(text)],
      ['br', brotliCompressSync(text)],
      ['zstd', zstdCompressSync(text)],
      ['identity', Buffer.from(text)],
      [undefined, Buffer.from(text)],
    ] as const) {
      assert.equal(decodeBody(encoded, encoding).toString(), text, String(encoding));
    }
  });
  it('refuses an encoding it did not ask for', () => {
    assert.throws(() => decodeBody(Buffer.from(text), 'compress'), /unexpected Content-Encoding/);
  });
});
