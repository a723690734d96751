import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';

import type * as client from 'openid-client';

import { MAX_RESPONSE_BYTES } from './http-transport';
import {
  discoverForProbes,
  sendAssertionAsIs,
  sendTokenProbe,
  type ProbeTarget,
} from './token-endpoint-probe';

/**
 * The probe's token request against token endpoints that answer without end: the answer is read
 * to a bound, whatever the provider sends, and the probe ends with no answer instead of holding
 * everything in memory.
 */

const servers: Server[] = [];
after(() => {
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
});

/** A token endpoint; `written()` counts the body bytes the server got out before the client hung up. */
async function tokenEndpoint(
  answer: (res: ServerResponse, count: (n: number) => void) => void,
): Promise<{ url: string; written: () => number }> {
  let written = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(res, (n) => (written += n)));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/token`, written: () => written };
}

function targetFor(url: string): ProbeTarget {
  const metadata: client.ServerMetadata = { issuer: new URL(url).origin, token_endpoint: url };
  return { metadata, clientId: 'c', redirectUri: 'http://localhost/cb', timeoutMs: 20_000 };
}

describe('a token endpoint answer without bound', () => {
  it('an endless JSON body is read no further than the bound', async () => {
    const limit = 256 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const endpoint = await tokenEndpoint((res, count) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.write('{"error":"invalid_client","x":"');
      let sent = 0;
      const pump = () => {
        while (sent < limit) {
          sent += chunk.length;
          count(chunk.length);
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end('"}');
      };
      res.on('close', () => (sent = limit + 1));
      pump();
    });
    const result = await sendTokenProbe(targetFor(endpoint.url), sendAssertionAsIs('a.b.c'));
    assert.equal(result.verdict, 'no_answer', result.answered);
    assert.match(result.answered, /ERR_RESPONSE_TOO_LARGE/);
    assert.ok(
      endpoint.written() < 4 * MAX_RESPONSE_BYTES,
      `the server wrote ${endpoint.written()} bytes before the probe hung up`,
    );
  });

  it('a small gzip body that inflates beyond the bound is not inflated whole', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const endpoint = await tokenEndpoint((res) => {
      res.writeHead(400, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(bomb);
    });
    const before = process.memoryUsage().arrayBuffers;
    const result = await sendTokenProbe(targetFor(endpoint.url), sendAssertionAsIs('a.b.c'));
    assert.equal(result.verdict, 'no_answer', result.answered);
    assert.ok(result.answer === undefined);
    assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 1024 * 1024);
  });
});

describe('a discovery document without bound', () => {
  it('is refused at the bound, not read whole', async () => {
    let written = 0;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"x":"');
      let open = true;
      res.on('close', () => (open = false));
      const pump = () => {
        while (open && written < 256 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end('"}');
      };
      pump();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const issuer = `http://127.0.0.1:${port}`;
    await assert.rejects(
      discoverForProbes({ issuer, clientId: 'c', httpTimeoutMs: 20_000 }),
      (err: Error) =>
        (err.cause as { code?: string } | undefined)?.code === 'ERR_RESPONSE_TOO_LARGE',
    );
    assert.ok(written < 4 * MAX_RESPONSE_BYTES, `the server wrote ${written} bytes`);
  });
});
