import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { brotliCompressSync, constants, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';

import { isNetworkError } from './discovery';
import { MAX_RESPONSE_BYTES, sendRequest } from './http-transport';

const manual = { redirect: 'manual' } as const;

/** The code of a rejection's cause (`fetch failed` errors carry the system error as cause). */
function causeCode(err: unknown): unknown {
  return ((err as { cause?: { code?: unknown } }).cause ?? {}).code;
}

describe('sendRequest', () => {
  let server: Server;
  let origin = '';
  const sockets = new Set<Socket>();
  let received: { method?: string; headers?: IncomingHttpHeaders; body?: string } = {};

  const bombs: Record<string, Buffer> = {};

  before(async () => {
    const zeros = Buffer.alloc(4 * MAX_RESPONSE_BYTES);
    bombs.gzip = gzipSync(zeros);
    bombs.deflate = deflateSync(zeros);
    bombs.br = brotliCompressSync(zeros, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
    bombs.zstd = zstdCompressSync(zeros);
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received = { method: req.method, headers: req.headers, body };
        const url = req.url ?? '/';
        if (url === '/json') {
          res.writeHead(200, 'Fine', [
            ['content-type', 'application/json'],
            ['www-authenticate', 'DPoP algs="ES256"'],
            ['www-authenticate', 'Bearer'],
          ]);
          res.end('{"ok":true}');
        } else if (url.startsWith('/coded/')) {
          const coding = url.slice('/coded/'.length);
          const text = Buffer.from('{"claims":"' + 'x'.repeat(300) + '"}');
          const encode = {
            gzip: gzipSync,
            deflate: deflateSync,
            br: brotliCompressSync,
            zstd: zstdCompressSync,
            unknown: (b: Buffer) => b,
          }[coding];
          res.writeHead(200, { 'content-encoding': coding === 'unknown' ? 'x-custom' : coding });
          res.end(encode?.(text));
        } else if (url.startsWith('/bomb/')) {
          // Small on the wire, four times the limit once decoded.
          const coding = url.slice('/bomb/'.length);
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding });
          res.end(bombs[coding]);
        } else if (url === '/corrupt-gzip') {
          res.writeHead(200, { 'content-encoding': 'gzip' });
          res.end('not gzip at all');
        } else if (url === '/empty') {
          res.writeHead(204);
          res.end();
        } else if (url === '/redirect') {
          res.writeHead(302, { location: '/json' });
          res.end();
        } else if (url === '/status-999') {
          res.writeHead(999, { 'content-type': 'application/json' });
          res.end('{"error":"server_error"}');
        } else if (url === '/huge') {
          res.writeHead(200, { 'content-type': 'application/json' });
          const chunk = Buffer.alloc(64 * 1024, 'a');
          const write = () => {
            while (res.write(chunk));
            res.once('drain', write);
          };
          write();
        } else if (url === '/truncated') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"partial":');
          setTimeout(() => res.socket?.destroy(), 20);
        } else if (url === '/stalled') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"ok":');
        } else {
          res.writeHead(404);
          res.end();
        }
      });
    });
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends what fetch would: Accept, User-Agent, Accept-Encoding unless set, and the caller’s headers', async () => {
    const response = await sendRequest(`${origin}/json`, {
      ...manual,
      headers: new Headers({ accept: 'application/json', dpop: 'proof' }),
    });
    assert.equal(response.status, 200);
    assert.equal(received.method, 'GET');
    assert.equal(received.headers?.accept, 'application/json');
    assert.equal(received.headers?.dpop, 'proof');
    assert.equal(received.headers?.['user-agent'], 'node');
    assert.equal(received.headers?.['accept-encoding'], 'gzip, deflate, br, zstd');
  });

  it('posts a form with its Content-Type and Content-Length', async () => {
    const form = new URLSearchParams({ grant_type: 'authorization_code', code: 'a b+c' });
    await sendRequest(`${origin}/json`, { ...manual, method: 'POST', body: form });
    assert.equal(received.method, 'POST');
    assert.equal(received.body, form.toString());
    assert.equal(
      received.headers?.['content-type'],
      'application/x-www-form-urlencoded;charset=UTF-8',
    );
    assert.equal(received.headers?.['content-length'], String(form.toString().length));
  });

  it('hands back the status, the reason phrase, every header and the body', async () => {
    const response = await sendRequest(`${origin}/json`, manual);
    assert.equal(response.status, 200);
    assert.equal(response.statusText, 'Fine');
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(response.headers.get('www-authenticate'), 'DPoP algs="ES256", Bearer');
    assert.deepEqual(await response.json(), { ok: true });
  });

  it('decodes gzip, deflate, br and zstd bodies, and leaves other codings as they came', async () => {
    const text = '{"claims":"' + 'x'.repeat(300) + '"}';
    for (const coding of ['gzip', 'deflate', 'br', 'zstd', 'unknown']) {
      const response = await sendRequest(`${origin}/coded/${coding}`, manual);
      assert.equal(await response.text(), text, coding);
    }
  });

  it('rejects a body its Content-Encoding does not decode', async () => {
    await assert.rejects(sendRequest(`${origin}/corrupt-gzip`, manual), TypeError);
  });

  it('hands back a 204 with no body, and a redirect without following it', async () => {
    const empty = await sendRequest(`${origin}/empty`, manual);
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
    const redirect = await sendRequest(`${origin}/redirect`, manual);
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/json');
  });

  it('refuses a status no Response can carry, by a coded cause', async () => {
    await assert.rejects(sendRequest(`${origin}/status-999`, manual), (err: unknown) => {
      assert.ok(err instanceof TypeError);
      assert.equal(causeCode(err), 'ERR_HTTP_INVALID_STATUS_CODE');
      return true;
    });
  });

  it(`stops reading a body beyond ${MAX_RESPONSE_BYTES} bytes`, async () => {
    await assert.rejects(sendRequest(`${origin}/huge`, manual), (err: unknown) => {
      assert.equal(causeCode(err), 'ERR_RESPONSE_TOO_LARGE');
      return true;
    });
  });

  it(`stops decoding a body beyond ${MAX_RESPONSE_BYTES} bytes, whatever its coding`, async () => {
    for (const coding of ['gzip', 'deflate', 'br', 'zstd']) {
      assert.ok((bombs[coding]?.byteLength ?? 0) < 20_000, coding);
      await assert.rejects(sendRequest(`${origin}/bomb/${coding}`, manual), (err: unknown) => {
        assert.ok(err instanceof TypeError, coding);
        assert.equal(causeCode(err), 'ERR_RESPONSE_TOO_LARGE', coding);
        return true;
      });
    }
  });

  it('bounds what it leaves to fetch as well: NODE_USE_ENV_PROXY, a redirect to follow', async () => {
    // fetch decodes the content coding itself: the bound applies to the decoded body.
    const saved = process.env.NODE_USE_ENV_PROXY;
    process.env.NODE_USE_ENV_PROXY = '1';
    try {
      for (const coding of ['gzip', 'br', 'zstd']) {
        await assert.rejects(sendRequest(`${origin}/bomb/${coding}`, manual), (err: unknown) => {
          assert.ok(err instanceof TypeError, coding);
          assert.equal(causeCode(err), 'ERR_RESPONSE_TOO_LARGE', coding);
          return true;
        });
      }
      await assert.rejects(sendRequest(`${origin}/huge`, manual), (err: unknown) => {
        assert.equal(causeCode(err), 'ERR_RESPONSE_TOO_LARGE');
        return true;
      });
      // What fits is handed back whole, as fetch gave it.
      const json = await sendRequest(`${origin}/json`, manual);
      assert.equal(json.status, 200);
      assert.equal(json.statusText, 'Fine');
      assert.equal(json.url, `${origin}/json`);
      assert.deepEqual(await json.json(), { ok: true });
    } finally {
      if (saved === undefined) delete process.env.NODE_USE_ENV_PROXY;
      else process.env.NODE_USE_ENV_PROXY = saved;
    }
    const followed = await sendRequest(`${origin}/redirect`);
    assert.equal(followed.redirected, true);
    assert.equal(followed.url, `${origin}/json`);
  });

  it('reports a refused connection and a body cut short as network failures', async () => {
    const closed = createTcpServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));
    const refused = await sendRequest(`http://127.0.0.1:${port}/`, manual).catch((e) => e);
    assert.equal(causeCode(refused), 'ECONNREFUSED');
    assert.equal(isNetworkError(refused), true);
    const truncated = await sendRequest(`${origin}/truncated`, manual).catch((e) => e);
    assert.ok(truncated instanceof TypeError);
    assert.equal(isNetworkError(truncated), true);
  });

  it('ends the exchange when the signal aborts, body included, with the signal’s reason', async () => {
    const controller = new AbortController();
    const reason = new DOMException('too slow', 'TimeoutError');
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(
      sendRequest(`${origin}/stalled`, { ...manual, signal: controller.signal }),
      (err: unknown) => err === reason,
    );
    await assert.rejects(
      sendRequest(`${origin}/json`, { ...manual, signal: AbortSignal.abort(reason) }),
      (err: unknown) => err === reason,
    );
  });

  it('keeps connections alive between exchanges', async () => {
    server.closeAllConnections();
    await sendRequest(`${origin}/json`, manual);
    await sendRequest(`${origin}/json`, manual);
    await sendRequest(`${origin}/json`, { ...manual, method: 'POST', body: 'x=1' });
    assert.equal(sockets.size, 1);
  });

  it('leaves what it does not carry to fetch: a redirect to follow, a stream body', async () => {
    const followed = await sendRequest(`${origin}/redirect`);
    assert.equal(followed.status, 200);
    assert.deepEqual(await followed.json(), { ok: true });
    const stream = new Blob(['streamed']).stream();
    await sendRequest(`${origin}/json`, {
      ...manual,
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as Parameters<typeof sendRequest>[1]);
    assert.equal(received.body, 'streamed');
  });
});

describe('sendRequest on a kept-alive connection the server has closed', () => {
  it('sends the request once more on a new connection', async () => {
    // The first connection answers once, then resets as the next request arrives, having read
    // nothing of it (a server closing an idle connection); later connections answer each request.
    let connections = 0;
    const open: Socket[] = [];
    const server = createTcpServer((socket) => {
      connections += 1;
      open.push(socket);
      const first = connections === 1;
      let requests = 0;
      socket.on('data', () => {
        requests += 1;
        if (first && requests === 2) {
          socket.resetAndDestroy();
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok');
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      assert.equal(await (await sendRequest(url, manual)).text(), 'ok');
      assert.equal(await (await sendRequest(url, manual)).text(), 'ok');
      assert.equal(connections, 2);
    } finally {
      for (const socket of open) socket.destroy();
      server.close();
    }
  });
});

/** A TCP server that answers each connection's requests with `answer`; closed by `close`. */
async function rawServer(answer: (socket: Socket, request: string, index: number) => void) {
  const open = new Set<Socket>();
  const requests: string[] = [];
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections += 1;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => {});
    let index = 0;
    socket.on('data', (data: Buffer) => {
      requests.push(data.toString('latin1'));
      answer(socket, data.toString('latin1'), index++);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests,
    open,
    connections: () => connections,
    close: () => {
      for (const socket of open) socket.destroy();
      server.close();
    },
  };
}

describe('sendRequest and a POST on a kept-alive connection reset before any answer', () => {
  it('does not send it again (the server may have applied it), and reports a network failure', async () => {
    // The second request on the first connection, a code redemption, reaches the server, which
    // applies it and then loses the connection before answering: fetch reports the failure; a
    // second POST would redeem the code (or replay the client assertion's jti) once more.
    const server = await rawServer((socket, _request, index) => {
      if (index === 1) {
        socket.resetAndDestroy();
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok');
    });
    try {
      assert.equal(await (await sendRequest(server.url, manual)).text(), 'ok');
      const failure = await sendRequest(server.url, {
        ...manual,
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'once' }),
      }).catch((e: unknown) => e);
      assert.ok(failure instanceof TypeError);
      assert.equal(isNetworkError(failure), true);
      assert.equal(server.requests.filter((r) => r.startsWith('POST ')).length, 1);
      assert.equal(server.connections(), 1);
    } finally {
      server.close();
    }
  });
});

describe('sendRequest and what follows a complete response', () => {
  it('hands back a 204, or a response of Content-Length bytes, that bytes beyond it follow', async () => {
    // RFC 9112 §6.3: a 204 ends with its header section, a Content-Length body after so many
    // bytes; what comes after is no part of the response (fetch hands it back all the same).
    const server = await rawServer((socket, request) => {
      if (request.startsWith('GET /no-content '))
        socket.write('HTTP/1.1 204 No Content\r\n\r\n{"unexpected":true}');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokAND MORE');
    });
    try {
      const empty = await sendRequest(`${server.url}no-content`, manual);
      assert.equal(empty.status, 204);
      assert.equal(empty.body, null);
      const sized = await sendRequest(`${server.url}sized`, manual);
      assert.equal(await sized.text(), 'ok');
    } finally {
      server.close();
    }
  });
});

describe('sendRequest and an empty body with a Content-Encoding', () => {
  it('hands back an empty body whatever its Content-Encoding says, as fetch does', async () => {
    const server = await rawServer((socket) => {
      socket.write(
        'HTTP/1.1 401 Unauthorized\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n',
      );
    });
    try {
      const response = await sendRequest(server.url, manual);
      assert.equal(response.status, 401);
      assert.equal(await response.text(), '');
    } finally {
      server.close();
    }
  });
});

describe('sendRequest and a URL with credentials', () => {
  it('refuses it as fetch does, before anything is sent, and not as a network failure', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    try {
      const refused = await sendRequest(
        `http://user:secret@127.0.0.1:${server.port}/token`,
        manual,
      ).catch((e: unknown) => e);
      assert.ok(refused instanceof TypeError);
      assert.equal(isNetworkError(refused), false);
      assert.equal(server.requests.length, 0);
    } finally {
      server.close();
    }
  });
});

describe('sendRequest and an idle kept-alive connection', () => {
  it('closes it before the server’s announced Keep-Alive timeout, as fetch does', async () => {
    // `Keep-Alive: timeout=2`: the server closes the connection after 2 s idle; a request sent on
    // it as it does is lost (and a POST is not sent again). The client closes it first.
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=2\r\n\r\nok');
    });
    try {
      await (await sendRequest(server.url, manual)).text();
      const [socket] = server.open;
      assert.ok(socket);
      const closedByClient = await new Promise<boolean>((done) => {
        const timer = setTimeout(() => done(false), 1_800);
        socket.once('end', () => {
          clearTimeout(timer);
          done(true);
        });
      });
      assert.equal(closedByClient, true);
    } finally {
      server.close();
    }
  });
});
