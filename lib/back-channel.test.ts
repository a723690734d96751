import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { backChannelFetch, withDeadline } from './back-channel';

/** A full garbage collection, without starting the test runner with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('withDeadline', () => {
  let server: Server;
  let origin = '';

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/json') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-kept': 'yes' });
        res.end('{"ok":true}');
      } else if (req.url === '/empty') {
        res.writeHead(204);
        res.end();
      } else if (req.url === '/refused') {
        res.writeHead(401, 'Unauthorized', { 'www-authenticate': 'Bearer error="invalid_token"' });
        res.end('{"error":"invalid_client"}');
      } else if (req.url === '/status-999') {
        // Not an HTTP status a Response can be built with (200 to 599): fetch still returns it.
        res.writeHead(999, { 'content-type': 'application/json' });
        res.end('{"error":"server_error"}');
      } else if (req.url === '/status-999-stalled') {
        res.writeHead(999, { 'content-type': 'application/json' });
        res.write('{"error":');
      } else if (req.url === '/stalled-body') {
        // Headers at once, then the body never ends.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"ok":');
      }
      // '/silent': no answer at all.
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('hands back a status outside 200 to 599 as it came, for the caller to refuse', async () => {
    const response = await withDeadline(backChannelFetch, 2000)(`${origin}/status-999`, {});
    assert.equal(response.status, 999);
    assert.equal(await response.text(), '{"error":"server_error"}');
  });

  it('still bounds the body of such a response', async () => {
    // The whole exchange, body included, ends at the deadline (the transport reads the body
    // before it answers, to bound its size: the rejection may come from either step).
    const started = performance.now();
    await assert.rejects(
      (async () => {
        const response = await withDeadline(backChannelFetch, 300)(
          `${origin}/status-999-stalled`,
          {},
        );
        return response.text();
      })(),
      (err: Error) => err.name === 'TimeoutError',
    );
    assert.ok(performance.now() - started < 2000);
  });

  it('hands back the status, the headers and the body', async () => {
    const response = await withDeadline(backChannelFetch, 2000)(`${origin}/json`, {});
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-kept'), 'yes');
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.ok(response.headers.get('date'));
    assert.deepEqual(await response.json(), { ok: true });

    const refused = await withDeadline(backChannelFetch, 2000)(`${origin}/refused`, {});
    assert.equal(refused.status, 401);
    assert.equal(refused.statusText, 'Unauthorized');
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    assert.equal(await refused.text(), '{"error":"invalid_client"}');

    const empty = await withDeadline(backChannelFetch, 2000)(`${origin}/empty`, {});
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
  });

  it('hands back a refusal whose reason phrase no Response can carry, status and body intact', async () => {
    // A status line as a gateway may send it: a reason phrase beyond Latin-1 (fetch decodes it as
    // UTF-8; a Latin-1 byte that is no UTF-8 becomes U+FFFD). node:http cannot write it: raw TCP.
    const body = '{"error":"invalid_client"}';
    const lines = [
      Buffer.from(`HTTP/1.1 400 错误请求\r\ncontent-type: application/json\r\n`, 'utf8'),
      Buffer.from(`HTTP/1.1 401 Não autorizado\r\ncontent-type: application/json\r\n`, 'latin1'),
    ];
    const raw = createTcpServer((socket) => {
      socket.once('data', (request) => {
        const line = lines[Number(request.toString('latin1').split(' ')[1]?.slice(1))];
        socket.end(
          Buffer.concat([
            line ?? Buffer.alloc(0),
            Buffer.from(`content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`),
          ]),
        );
      });
    });
    await new Promise<void>((done) => raw.listen(0, '127.0.0.1', done));
    const rawOrigin = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    try {
      for (const [index, status] of [400, 401].entries()) {
        const response = await withDeadline(backChannelFetch, 2000)(`${rawOrigin}/${index}`, {});
        assert.equal(response.status, status);
        assert.equal(response.headers.get('content-type'), 'application/json');
        assert.equal(await response.text(), body);
      }
    } finally {
      raw.close();
    }
  });

  it('rejects with a TimeoutError when no answer comes in time', async () => {
    const started = performance.now();
    await assert.rejects(withDeadline(backChannelFetch, 150)(`${origin}/silent`, {}), {
      name: 'TimeoutError',
    });
    const ms = performance.now() - started;
    assert.ok(ms >= 140 && ms < 2000, `${ms} ms`);
  });

  it('counts the body in the deadline: a body that never ends times out too', async () => {
    await assert.rejects(withDeadline(backChannelFetch, 150)(`${origin}/stalled-body`, {}), {
      name: 'TimeoutError',
    });
  });

  it("still obeys the caller's own signal", async () => {
    const caller = new AbortController();
    const pending = withDeadline(backChannelFetch, 5000)(`${origin}/silent`, {
      signal: caller.signal,
    });
    caller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
  });

  it('keeps nothing of the calling request once the exchange is over', async () => {
    // The connection is opened outside the request's context: a pooled socket keeps the
    // context it was opened in, whatever the timeout does.
    await (await withDeadline(backChannelFetch, 10_000)(`${origin}/json`, {})).text();
    const requests = new AsyncLocalStorage<{ readonly payload: number[] }>();
    let request: WeakRef<object> | undefined;
    await (async () => {
      const store = { payload: Array.from({ length: 10_000 }, (_, i) => i) };
      request = new WeakRef(store);
      await requests.run(store, async () => {
        const response = await withDeadline(backChannelFetch, 10_000)(`${origin}/json`, {});
        await response.json();
      });
    })();
    // A WeakRef's target lives at least until the end of the job that made it.
    await new Promise((done) => setImmediate(done));
    // One collection: AbortSignal.timeout's timer, left in Node's timer list for the whole
    // timeout, would still hold the request's context here.
    collectGarbage();
    assert.equal(request?.deref(), undefined);
  });
});
