import { Agent, request } from 'node:http';

import { decodeContentCoding } from '../lib/http-transport';

/**
 * A lean HTTP/1.1 client for the benchmark: keep-alive connections, one cookie jar per user and
 * site, redirects not followed (each hop is a measured step). Plain `node:http` rather than
 * `fetch`, so that the load generator's own cost stays small next to what it measures.
 *
 * It asks for compressed bodies as a browser does (Chromium's `Accept-Encoding`), so that each
 * subject pays for the compression a browser would get from it: Next.js gzips any body for such a
 * client unless the response says `no-transform` (lib/cache-control.ts).
 */

/** Chromium's `Accept-Encoding` (fetch and navigation alike). */
export const ACCEPT_ENCODING = 'gzip, deflate, br, zstd';

/** The body as it was before its `Content-Encoding` (none, or one of {@link ACCEPT_ENCODING}). */
export function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  const decoded = decodeContentCoding(body, encoding);
  if (decoded === undefined) throw new Error(`unexpected Content-Encoding: ${encoding}`);
  return decoded;
}

export type Reply = {
  readonly status: number;
  readonly location: string | undefined;
  readonly body: string;
};

/** A browser's cookies for one site: what `Set-Cookie` stored, minus what it expired. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Applies the `Set-Cookie` header lines of a response. */
  store(lines: readonly string[] | undefined): void {
    for (const line of lines ?? []) {
      const [pair = '', ...attributes] = line.split(';');
      const index = pair.indexOf('=');
      if (index <= 0) continue;
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      if (value === '' || attributes.some(isExpiring)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** The `Cookie` request header, or undefined when the jar is empty. */
  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  names(): string[] {
    return [...this.cookies.keys()];
  }
}

function isExpiring(attribute: string): boolean {
  const [key = '', value = ''] = attribute.split('=').map((s) => s.trim());
  if (/^max-age$/i.test(key)) return Number(value) <= 0;
  if (/^expires$/i.test(key)) return Date.parse(value) <= Date.now();
  return false;
}

/** A keep-alive agent for `sockets` concurrent requests. Destroy it when the phase ends. */
export function createAgent(sockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

const REQUEST_TIMEOUT_MS = 15_000;

/**
 * One request. A kept-alive connection the server closed just as it was reused fails with
 * ECONNRESET before the server saw the request; like browsers, that request is sent again once.
 */
async function send(
  method: 'GET' | 'POST',
  url: URL,
  jar: CookieJar | undefined,
  agent: Agent | false,
  form?: URLSearchParams,
): Promise<Reply> {
  try {
    return await sendOnce(method, url, jar, agent, form);
  } catch (err) {
    if (!(err instanceof StaleConnectionError)) throw err;
    return sendOnce(method, url, jar, agent, form);
  }
}

class StaleConnectionError extends Error {}

function sendOnce(
  method: 'GET' | 'POST',
  url: URL,
  jar: CookieJar | undefined,
  agent: Agent | false,
  form?: URLSearchParams,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = form?.toString();
    const cookie = jar?.header();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method,
        agent,
        headers: {
          host: url.host,
          accept: '*/*',
          'accept-encoding': ACCEPT_ENCODING,
          ...(cookie ? { cookie } : {}),
          ...(body === undefined
            ? {}
            : {
                'content-type': 'application/x-www-form-urlencoded',
                'content-length': Buffer.byteLength(body),
              }),
        },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        jar?.store(res.headers['set-cookie']);
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              location: res.headers.location,
              body: decodeBody(Buffer.concat(chunks), res.headers['content-encoding']).toString(
                'utf8',
              ),
            });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        req.reusedSocket && err.code === 'ECONNRESET'
          ? new StaleConnectionError('connection reset on reuse', { cause: err })
          : err,
      ),
    );
    req.end(body);
  });
}

/**
 * `GET url` with the jar's cookies; stores the response's cookies in the jar. Bounded by a
 * timeout, so no loop of the benchmark can hang.
 */
export function get(url: URL, jar: CookieJar | undefined, agent: Agent | false): Promise<Reply> {
  return send('GET', url, jar, agent);
}

/** `POST url` with a form body (the provider's login and consent forms). */
export function postForm(
  url: URL,
  form: URLSearchParams,
  jar: CookieJar,
  agent: Agent | false,
): Promise<Reply> {
  return send('POST', url, jar, agent, form);
}
