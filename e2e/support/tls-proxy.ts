// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';

import { generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';

import * as x509 from '@peculiar/x509';

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

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

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

async function selfSignedServerCertificate(
  hostName: string,
): Promise<{ key: string; cert: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey(
      'pkcs8',
      pair.privateKey.export({ type: 'pkcs8', format: 'der' }),
      algorithm,
      false,
      ['sign'],
    ),
    publicKey: await webcrypto.subtle.importKey(
      'spki',
      pair.publicKey.export({ type: 'spki', format: 'der' }),
      algorithm,
      true,
      ['verify'],
    ),
  };
  const notBefore = new Date(Date.now() - 60_000);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `01${randomBytes(15).toString('hex')}`,
    name: `CN=${hostName}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 86_400_000),
    signingAlgorithm: algorithm,
    keys: keys as CryptoKeyPair,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: hostName }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
  return {
    key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    cert: certificate.toString('pem'),
  };
}

/** Starts the proxy on a loopback `port`, for `hostName`, in front of http://localhost:targetPort. */
export async function startTlsProxy(options: {
  readonly hostName: string;
  readonly port: number;
  readonly targetPort: number;
  /** Where the certificate is written (PEM). */
  readonly certFile: string;
}): Promise<TlsProxy> {
  const { key, cert } = await selfSignedServerCertificate(options.hostName);
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
