import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';

import { findFreePort } from './processes';

describe('findFreePort', () => {
  it('hands out a port only once per process, even when none of them is listened on yet', async () => {
    // The bench takes a port for each relying party, then one for the provider, before any of
    // them listens: the system is free to assign a closed probe's port again.
    const ports = [];
    for (let i = 0; i < 400; i++) ports.push(await findFreePort());
    assert.equal(new Set(ports).size, ports.length);
  });

  it('hands out a port that can be listened on', async () => {
    const port = await findFreePort();
    const server = createServer();
    await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
    await new Promise((done) => server.close(done));
  });
});
