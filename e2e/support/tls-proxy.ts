import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';

import { createSelfSignedCertificate } from '../../keys/certificate';

/**
 * A stand-in for the reverse proxy or tunnel an integrator puts in front of the app (cloudflared,
 * ngrok, nginx): TLS for a public host name ends here, with a self-signed certificate made for
 * the run, and every request goes on as plain http to the app on loopback. Like nginx with
 * `proxy_set_header Host $host`, it keeps the Host header and adds no X-Forwarded-* header: the app
 * must need none (it takes its public address from APP_URL).
 */

export type TlsProxy = {
  /** The loopback port the proxy listens on (https). */
  readonly port: number;
  /** The certificate (PEM) browsers and Node.js must trust, or be told to ignore. */
  readonly certFile: string;
  stop(): Promise<void>;
};

/** Request headers a proxy does not pass on (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Starts the proxy on a loopback `port`, for `hostName`, in front of http://localhost:targetPort. */
export async function startTlsProxy(options: {
  readonly hostName: string;
  readonly port: number;
  readonly targetPort: number;
  /** Where the certificate is written (PEM). */
  readonly certFile: string;
}): Promise<TlsProxy> {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = (
    await createSelfSignedCertificate(pair.privateKey, {
      commonName: options.hostName,
      serverName: options.hostName,
      days: 1,
    })
  ).toString();
  writeFileSync(options.certFile, cert);
  const server: Server = createServer({ key, cert }, (incoming, outgoing) => {
    const headers = Object.fromEntries(
      Object.entries(incoming.headers).filter(([name]) => !HOP_BY_HOP.has(name)),
    );
    const upstream = httpRequest(
      {
        host: 'localhost',
        port: options.targetPort,
        method: incoming.method,
        path: incoming.url,
        headers,
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', () => {
      // As a tunnel whose origin is down answers.
      if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'text/plain' });
      outgoing.end('bad gateway: the app is not reachable');
    });
    incoming.pipe(upstream);
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port, '127.0.0.1', () => done());
  });
  return {
    port: options.port,
    certFile: options.certFile,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
}
