import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { readBoundedText } from './bounded-body';

/** A body sent in chunks, without Content-Length, counting how much of it was pulled. */
function streamedRequest(chunk: string, count: number): { request: Request; pulled: () => number } {
  let sent = 0;
  const bytes = new TextEncoder().encode(chunk);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === count) return controller.close();
      sent += 1;
      controller.enqueue(bytes);
    },
  });
  // `duplex` is required by Node's fetch for a streamed body; TypeScript's DOM types lack it.
  const init = { method: 'POST', body, duplex: 'half' } as RequestInit;
  const request = new Request('http://localhost/x', init);
  return { request, pulled: () => sent };
}

describe('readBoundedText', () => {
  it('reads a body within the bound', async () => {
    const request = new Request('http://localhost/x', {
      method: 'POST',
      body: 'logout_token=a.b.c',
    });
    assert.equal(await readBoundedText(request, 1024), 'logout_token=a.b.c');
    assert.equal(await readBoundedText(new Request('http://localhost/x'), 1024), '');
  });

  it('refuses a declared length over the bound without reading the body', async () => {
    const { request, pulled } = streamedRequest('x'.repeat(1024), 1000);
    const declared = new Request(request, { headers: { 'content-length': String(1024 * 1000) } });
    assert.equal(await readBoundedText(declared, 32 * 1024), undefined);
    assert.ok(pulled() <= 2, `read ${pulled()} chunks`);
  });

  it('stops reading a streamed body once it passes the bound', async () => {
    const { request, pulled } = streamedRequest('x'.repeat(1024), 10_000);
    assert.equal(await readBoundedText(request, 32 * 1024), undefined);
    assert.ok(pulled() < 40, `read ${pulled()} chunks of 10,000`);
  });
});
