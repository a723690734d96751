import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { brotliDecompressSync, gunzipSync, inflateSync, zstdDecompressSync } from 'node:zlib';

import { readUpTo } from './bounded-body';

/**
 * The transport under the app's back-channel requests (./back-channel.ts): a `fetch` for the
 * exchanges openid-client and jose make (a method, headers, a form or no body, no redirect
 * followed), carried by `node:http` and `node:https` with keep-alive connections. Anything else
 * (another body type, a redirect to follow, a URL that is not http(s) or has credentials, a proxy
 * from the environment) goes to the global `fetch`, unchanged.
 *
 * Why not `fetch` for all: undici registers the `Request` of every fetch given a signal (every
 * one here: the deadline) and every `Response` it returns with a FinalizationRegistry, and V8's
 * young-generation collector keeps the targets of such registrations alive. So each exchange
 * (request, response, connection state, the listeners on its signal) survived the collections
 * that followed it and was promoted to the old generation, to be freed only by a full collection.
 * Measured on 600 sequential sign-ins (`/auth/callback`, two provider requests each): callback
 * p50 5.4 to 5.5 → 5.0 ms, time in young-generation collections 142–146 → 117–121 ms, peak RSS
 * 298–299 → 265–272 MB.
 *
 * What it keeps of `fetch`'s behaviour: the response's status, reason phrase and headers as
 * received; a body decoded from gzip, deflate, br or zstd (it asks for these four; `fetch` asks
 * for gzip and deflate, and br over https), other codings left as they are; `Accept`,
 * `User-Agent` and a form's `Content-Type` when the caller set none; the caller's `signal`, which
 * ends the exchange at any point (the body included) and rejects with its reason; system errors
 * (`ECONNREFUSED`, `ECONNRESET`, …) as the rejection's `cause`, as `fetch` reports them. The
 * body is read whole before the promise settles (provider answers are small), up to
 * {@link MAX_RESPONSE_BYTES} as received and as decoded; the responses of the requests left to
 * `fetch` too.
 *
 * What differs: a status outside 200 to 599 (no `Response` can carry one) rejects with a
 * `TypeError` whose cause has the code `ERR_HTTP_INVALID_STATUS_CODE`, where `fetch` handed such a
 * response back; a request with an idempotent method (GET, for discovery and keys) sent on a
 * kept-alive connection that the server closed meanwhile (reset before any answer) is sent once
 * more on a new connection, as Node.js advises. A POST is not: the server may have applied it.
 *
 * @see https://nodejs.org/api/http.html#requestreusedsocket
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-9.2.2 (idempotent methods, retries)
 * @see https://fetch.spec.whatwg.org/#http-network-fetch (Accept-Encoding, content codings)
 */

/** The largest response body read (a provider's answers are a few KB; its JWKS tens of KB). */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

type TransportInit = {
  readonly method?: string | undefined;
  readonly headers?: HeadersInit | undefined;
  readonly body?: unknown;
  readonly redirect?: RequestRedirect | undefined;
  readonly signal?: AbortSignal | null | undefined;
};

/**
 * How long a connection stays idle before this side closes it: undici's default (4 s), which
 * `fetch` uses. Without a `timeout`, a Node.js agent keeps idle connections for ever and ignores
 * the server's `Keep-Alive: timeout=N` (it applies `N − 1 s` only when below its own timeout), so
 * requests went out on connections the server was closing (see the retry below, which a POST
 * gets none of). On an active connection the timeout only emits an event nobody listens to.
 */
const IDLE_TIMEOUT_MS = 4_000;

const agents = {
  'http:': new HttpAgent({ keepAlive: true, timeout: IDLE_TIMEOUT_MS }),
  'https:': new HttpsAgent({ keepAlive: true, timeout: IDLE_TIMEOUT_MS }),
};

/**
 * The methods a request may be sent again with after its connection failed (RFC 9110 §9.2.2).
 * MUST: not POST. A token request lost before its answer may have been applied: sent again, it
 * would redeem the code a second time (and replay the client assertion's and DPoP proof's `jti`).
 */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
]);

/** Statuses whose response has no body (a `Response` built with one throws). */
export const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** A reason phrase a `Response` can be built with (RFC 9110: HTAB, SP, VCHAR, obs-text). */
export const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The request body as bytes, or null when this transport does not carry its kind. */
function encodeBody(body: unknown): { bytes: Buffer | undefined; form: boolean } | null {
  if (body === undefined || body === null) return { bytes: undefined, form: false };
  if (typeof body === 'string') return { bytes: Buffer.from(body), form: false };
  if (body instanceof URLSearchParams) return { bytes: Buffer.from(body.toString()), form: true };
  if (body instanceof Uint8Array) return { bytes: Buffer.from(body), form: false };
  if (body instanceof ArrayBuffer) return { bytes: Buffer.from(body), form: false };
  return null;
}

/**
 * The body before its `Content-Encoding`: as it is for none (or `identity`), decoded for gzip,
 * deflate, br and zstd, undefined for any other coding (the caller decides: this transport hands
 * the body back as it came, as `fetch` does; the bench's client refuses it).
 *
 * @throws an `Error` with the code `ERR_RESPONSE_TOO_LARGE` when the decoded body would be
 *   longer than {@link MAX_RESPONSE_BYTES}; zlib's error for a body that does not decode.
 */
export function decodeContentCoding(
  body: Buffer,
  encoding: string | undefined,
): Buffer | undefined {
  // No bytes decode to no bytes (fetch's decoders see an empty stream); zlib would throw
  // Z_BUF_ERROR for an empty gzip member (a 401 or a HEAD answer labelled gzip, say).
  if (body.byteLength === 0) return body;
  // MUST: the decoded body is bounded as the received one is. A few KB of gzip decode to MBs, of
  // br or zstd to GBs: unbounded, one answer of a misbehaving provider (or of anyone on a plain
  // http back channel) would take the process's memory, and block it while it decodes.
  const bounded = { maxOutputLength: MAX_RESPONSE_BYTES };
  try {
    switch (encoding?.trim().toLowerCase()) {
      case undefined:
      case '':
      case 'identity':
        return body;
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body, bounded);
      case 'deflate':
        return inflateSync(body, bounded);
      case 'br':
        return brotliDecompressSync(body, bounded);
      case 'zstd':
        return zstdDecompressSync(body, bounded);
      default:
        return undefined;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw err;
    throw Object.assign(
      new Error(`decoded response body beyond ${MAX_RESPONSE_BYTES} bytes`, { cause: err }),
      { code: 'ERR_RESPONSE_TOO_LARGE' },
    );
  }
}

function toResponse(res: IncomingMessage, body: Buffer): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
  }
  const status = res.statusCode ?? 0;
  const nullBody = NULL_BODY_STATUSES.has(status);
  const decoded = nullBody
    ? undefined
    : (decodeContentCoding(body, res.headers['content-encoding']) ?? body);
  return new Response(
    decoded && new Uint8Array(decoded.buffer as ArrayBuffer, decoded.byteOffset, decoded.length),
    {
      status,
      statusText: REASON_PHRASE.test(res.statusMessage ?? '') ? res.statusMessage : '',
      headers,
    },
  );
}

/** Why this transport leaves a request to `fetch`, or undefined when it carries it. */
function leaveToFetch(url: URL, init: TransportInit): boolean {
  return (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    // fetch refuses a URL with credentials (a TypeError, nothing sent); node:http would send them
    // as `Authorization: Basic`, or keep the caller's Authorization and drop them.
    url.username !== '' ||
    url.password !== '' ||
    // openid-client and jose follow no redirect (`manual`); following one is fetch's business.
    (init.redirect ?? 'follow') !== 'manual' ||
    // Node.js's fetch takes HTTP(S)_PROXY from the environment when this is set; these agents
    // do not.
    Boolean(process.env.NODE_USE_ENV_PROXY) ||
    encodeBody(init.body) === null
  );
}

/**
 * `fetch(url, init)` for the back channel (see the module's comment): node:http(s) with
 * keep-alive connections for the requests openid-client and jose make, `fetch` for the rest.
 *
 * @see https://github.com/panva/openid-client/blob/v6.x/docs/variables/customFetch.md
 */
export function sendRequest(url: string, init: TransportInit = {}): Promise<Response> {
  const target = new URL(url);
  if (leaveToFetch(target, init)) return fetch(url, init as RequestInit).then(readWholeBounded);
  return sendOnce(target, init, false);
}

/**
 * A response of `fetch` with its body read whole, up to {@link MAX_RESPONSE_BYTES} as decoded
 * (fetch decodes the content codings itself), as this transport reads its own.
 *
 * MUST: the requests left to `fetch` are bounded too. With `NODE_USE_ENV_PROXY` every
 * back-channel request goes that way, and a few KB of br from the provider (or from anyone on the
 * way) decode to GBs.
 */
async function readWholeBounded(response: Response): Promise<Response> {
  if (response.body === null) return response;
  // A copy of the body is read to its end, up to the bound; the response goes back as fetch gave
  // it (a status or reason phrase no new Response could carry included), its body then buffered.
  const copy = response.clone().body as ReadableStream<Uint8Array>;
  if ((await readUpTo(copy, MAX_RESPONSE_BYTES)).whole) return response;
  await response.body.cancel().catch(() => undefined);
  const cause = Object.assign(new Error(`response body beyond ${MAX_RESPONSE_BYTES} bytes`), {
    code: 'ERR_RESPONSE_TOO_LARGE',
  });
  throw new TypeError('fetch failed', { cause });
}

function sendOnce(target: URL, init: TransportInit, retried: boolean): Promise<Response> {
  const { bytes, form } = encodeBody(init.body) ?? { bytes: undefined, form: false };
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = new Headers(init.headers);
  if (!headers.has('accept')) headers.set('accept', '*/*');
  if (!headers.has('user-agent')) headers.set('user-agent', 'node');
  if (!headers.has('accept-encoding')) headers.set('accept-encoding', 'gzip, deflate, br, zstd');
  if (form && !headers.has('content-type'))
    headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
  if (bytes !== undefined) headers.set('content-length', String(bytes.byteLength));
  const signal = init.signal ?? undefined;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    // The response once its head arrived; `complete` once its body has (its framing said so).
    let response: IncomingMessage | undefined;
    const req = send(target, {
      method,
      headers: Object.fromEntries(headers),
      agent: agents[target.protocol as 'http:' | 'https:'],
    });
    const onAbort = () => {
      req.destroy();
      finish(() => reject(abortReason(signal)));
    };
    let settled = false;
    function finish(settle: () => void): void {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      settle();
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (err: NodeJS.ErrnoException) => {
      // Bytes after a complete response (a body after a 204, beyond a Content-Length) are no part
      // of it (RFC 9112 §6.3): the connection is dropped, and the response ends as it came.
      if (response?.complete) return;
      if (
        response === undefined &&
        !retried &&
        req.reusedSocket &&
        err.code === 'ECONNRESET' &&
        IDEMPOTENT_METHODS.has(method)
      ) {
        // Most likely the server closed this idle kept-alive connection as the request went out;
        // but nothing tells that it read none of it, so only a request that may be applied twice
        // goes once more, on a new connection (fetch sends none again).
        finish(() => resolve(sendOnce(target, init, true)));
        return;
      }
      finish(() => reject(new TypeError('fetch failed', { cause: err })));
    });
    req.on('response', (res) => {
      response = res;
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        req.destroy();
        const cause = Object.assign(new Error(`HTTP status ${status} is not a valid status`), {
          code: 'ERR_HTTP_INVALID_STATUS_CODE',
        });
        finish(() => reject(new TypeError('fetch failed', { cause })));
        return;
      }
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        length += chunk.byteLength;
        if (length > MAX_RESPONSE_BYTES) {
          req.destroy();
          const cause = Object.assign(
            new Error(`response body beyond ${MAX_RESPONSE_BYTES} bytes`),
            { code: 'ERR_RESPONSE_TOO_LARGE' },
          );
          finish(() => reject(new TypeError('fetch failed', { cause })));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        finish(() => {
          try {
            resolve(toResponse(res, Buffer.concat(chunks)));
          } catch (err) {
            // A body its Content-Encoding does not decode, or decodes beyond the limit.
            reject(new TypeError('fetch failed', { cause: err }));
          }
        });
      });
      // A connection lost mid-body ('aborted', then an ECONNRESET error on the response).
      res.on('error', (err) => finish(() => reject(new TypeError('fetch failed', { cause: err }))));
    });
    // Whatever else ends the exchange before the body did.
    req.on('close', () => {
      if (response?.complete) return;
      const cause = Object.assign(new Error('connection closed before the response ended'), {
        code: 'ECONNRESET',
      });
      finish(() => reject(new TypeError('fetch failed', { cause })));
    });
    req.end(bytes);
  });
}

function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new DOMException('This operation was aborted', 'AbortError');
}
