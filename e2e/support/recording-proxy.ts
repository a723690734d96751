import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A reverse proxy on loopback in front of the app, which it serves as APP_URL: the browser and the
 * app's own server-side calls to its API both go through it. It records the credentials of every
 * request to the API (`/api/messages…`), so that a test can replay exactly what the app sent (a
 * DPoP-bound token and its proof) — the one thing a browser test can never see otherwise, since
 * the tokens stay on the server.
 */

export type RecordedApiRequest = {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly dpop: string | undefined;
  readonly status: number;
  readonly wwwAuthenticate: string | undefined;
};

export type RecordingProxy = {
  readonly url: string;
  /** API requests recorded (tests may clear it between steps). */
  readonly api: RecordedApiRequest[];
  /** Every API request since the start (never cleared). */
  readonly history: readonly RecordedApiRequest[];
  stop(): Promise<void>;
};

function first(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Starts the proxy on `localhost:port`, forwarding to the app on `localhost:targetPort`. */
export async function startRecordingProxy(
  port: number,
  targetPort: number,
): Promise<RecordingProxy> {
  const api: RecordedApiRequest[] = [];
  const history: RecordedApiRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const upstream = request(
      {
        host: 'localhost',
        port: targetPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        if (req.url?.startsWith('/api/messages')) {
          const record: RecordedApiRequest = {
            method: req.method ?? 'GET',
            path: req.url,
            authorization: first(req.headers, 'authorization'),
            dpop: first(req.headers, 'dpop'),
            status: answer.statusCode ?? 0,
            wwwAuthenticate: first(answer.headers, 'www-authenticate'),
          };
          api.push(record);
          history.push(record);
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(port, 'localhost', done));
  return {
    url: `http://localhost:${port}`,
    api,
    history,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
