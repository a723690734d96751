import { createServer, type Server } from 'node:http';

import { answerMessagesRequest } from '../../lib/messages-api';

/**
 * The app's protected API (lib/messages-api.ts, with the app's real policy) served over HTTP on
 * loopback, for protocol tests that call it through openid-client without starting Next.js. It
 * records the credentials of every request, so that tests can replay them.
 */

export type ApiRequestRecord = {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly dpop: string | undefined;
  readonly status: number;
};

export type ApiServer = {
  readonly seen: ApiRequestRecord[];
  stop(): void;
};

/** Serves the API at `appUrl` (an http://localhost:<port> origin). */
export async function startApiServer(appUrl: string): Promise<ApiServer> {
  const seen: ApiRequestRecord[] = [];
  const server: Server = createServer((req, res) => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    void answerMessagesRequest(
      new Request(`${appUrl}${req.url}`, { method: req.method, headers }),
    ).then(async (response) => {
      seen.push({
        method: req.method ?? 'GET',
        path: req.url ?? '',
        authorization: headers.get('authorization') ?? undefined,
        dpop: headers.get('dpop') ?? undefined,
        status: response.status,
      });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(await response.text());
    });
  });
  await new Promise<void>((done) => server.listen(Number(new URL(appUrl).port), 'localhost', done));
  return {
    seen,
    stop() {
      server.close();
      server.closeAllConnections();
    },
  };
}
