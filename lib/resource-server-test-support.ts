import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';

import type { CryptoKey, JWK } from 'jose';

/**
 * The set-up the protected API's tests share (resource-server.test.ts, resource-server-dpop.test.ts):
 * who the "provider", the API and the client are, and a local HTTP server that publishes the
 * "provider" key set, so that tests sign tokens with keys of their own and every claim can be set
 * at will. Test code only.
 */

export const ISSUER = 'https://op.example';
export const API = 'https://app.example/api';
export const URL_API = 'https://app.example/api/messages';
export const CLIENT_ID = 'client_using_jwt';

export type Key = { readonly privateKey: CryptoKey; readonly publicJwk: JWK };

/** Seconds since the epoch. */
export const now = () => Math.floor(Date.now() / 1000);

/** A JWKS endpoint that counts its fetches and can change what it publishes. */
export class JwksServer {
  fetches = 0;
  keys: JWK[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((_req, res) => {
      this.fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: this.keys }));
    });
    await new Promise<void>((done) => this.server?.listen(0, '127.0.0.1', done));
    const address = this.server.address();
    assert.ok(address && typeof address === 'object');
    this.url = `http://127.0.0.1:${address.port}/jwks`;
  }

  stop(): void {
    this.server?.close();
    this.server?.closeAllConnections();
  }
}
