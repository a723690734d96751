import { AsyncLocalStorage } from 'node:async_hooks';

import { observeProviderResponse } from './clock-skew';
import { NULL_BODY_STATUSES, REASON_PHRASE, sendRequest } from './http-transport';
import { log } from './log';
import { processSingleton } from './process-slot';

/**
 * The one `fetch` every server-to-provider request goes through (discovery, JWKS, token,
 * UserInfo). It logs method, path, status and duration (never bodies), hands each response's
 * headers to lib/clock-skew.ts (which learns the provider's clock from token-endpoint responses
 * only), and records each request, each `client_assertion` and each DPoP proof sent into the
 * {@link BackChannelTrace} of the operation that caused it, so the app can show exactly which
 * assertion redeemed a code (and which proofs went with it) and tests can count requests.
 */

export type BackChannelRequest = {
  readonly method: string;
  /** Origin and path only; a query could carry secrets. */
  readonly url: string;
  readonly status?: number | undefined;
  readonly ms: number;
  /** When it was sent, on the monotonic clock (`performance.now()`), for timelines. */
  readonly start?: number | undefined;
};

export type BackChannelTrace = {
  readonly requests: BackChannelRequest[];
  /** Every `client_assertion` sent, in order (compact JWTs). */
  readonly clientAssertions: string[];
  /** Every DPoP proof sent (the `DPoP` header, RFC 9449 §4), in order (compact JWTs). */
  readonly dpopProofs: string[];
  /**
   * Every response whose body is a JWT (`application/jwt`: a signed UserInfo response), by URL
   * (origin and path), so that the caller can verify the signature that openid-client does not.
   */
  readonly jwtResponses: Array<{ readonly url: string; readonly jwt: string }>;
};

// One store per process, not per bundle: the fetch function may come from the bundle that ran the
// start-up discovery while the trace is opened by a route handler's bundle.
const traces = processSingleton(
  'back-channel-traces',
  () => new AsyncLocalStorage<BackChannelTrace>(),
);

/** A new, empty trace. */
export function createTrace(): BackChannelTrace {
  return { requests: [], clientAssertions: [], dpopProofs: [], jwtResponses: [] };
}

/** Runs `fn` so that the back-channel requests it causes are recorded into `trace`. */
export function withTrace<T>(trace: BackChannelTrace, fn: () => Promise<T>): Promise<T> {
  return traces.run(trace, fn);
}

function readClientAssertion(body: unknown): string | undefined {
  if (body instanceof URLSearchParams) return body.get('client_assertion') ?? undefined;
  if (typeof body === 'string')
    return new URLSearchParams(body).get('client_assertion') ?? undefined;
  return undefined;
}

function readDpopProof(headers: unknown): string | undefined {
  if (headers instanceof Headers) return headers.get('dpop') ?? undefined;
  if (typeof headers === 'object' && headers !== null) {
    const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === 'dpop');
    return typeof entry?.[1] === 'string' ? entry[1] : undefined;
  }
  return undefined;
}

/** `Content-Type: application/jwt` (parameters and case aside), as openid-client tells it. */
export function isJwtResponse(response: Response): boolean {
  const type = response.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  return type === 'application/jwt';
}

/** Origin and path of a URL: how requests are recorded (a query could carry secrets). */
export function stripQuery(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(unparseable url)';
  }
}

type FetchOptions = { method?: string; body?: unknown } & Omit<RequestInit, 'body' | 'method'>;

/**
 * Fetch API compatible function for openid-client's and jose's `customFetch` hooks.
 *
 * @see https://github.com/panva/openid-client/blob/v6.x/docs/variables/customFetch.md
 */
export function backChannelFetch(url: string, options: FetchOptions): Promise<Response> {
  return tracedFetch(url, options, 'back-channel');
}

/** A `fetch` as openid-client's and jose's `customFetch` hooks call it. */
export type BackChannelFetch = (url: string, options: FetchOptions) => Promise<Response>;

/**
 * `fetchFn` with a deadline of `timeoutMs` for the whole exchange: the response and its body,
 * which is read here (provider answers are small JSON or JWT documents) and handed back in a new
 * `Response` with the same status and headers. A caller's own `signal` still applies. Missing
 * the deadline rejects with a `TimeoutError` DOMException, as `AbortSignal.timeout` does.
 *
 * Why not `AbortSignal.timeout` (what openid-client does with its `timeout` option): Node keeps
 * that signal's timer in its timer list until it fires, or until a garbage collection has found
 * the signal unreachable and a FinalizationRegistry callback has cleared it; and a timer holds the
 * async context it was created in, which in Next.js is the whole request (its request and
 * response objects, its stores, what the route built). Every sign-in kept its request alive for
 * up to the timeout after answering, so the garbage collector promoted it to the old generation:
 * tens of MB at 100 sign-ins/s, and a higher peak RSS. The timer here is cleared as soon as the
 * exchange ends and holds nothing after it.
 *
 * @see https://fetch.spec.whatwg.org/#fetch-method (the signal aborts the body's reading too)
 */
export function withDeadline(fetchFn: BackChannelFetch, timeoutMs: number): BackChannelFetch {
  return async (url, options) => {
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    }, timeoutMs);
    const signal = options.signal
      ? AbortSignal.any([options.signal, deadline.signal])
      : deadline.signal;
    let armed = false;
    try {
      const response = await fetchFn(url, { ...options, signal });
      if (response.status < 200 || response.status > 599) {
        // No Response can be built with such a status (fetch hands it back all the same): this
        // one goes back as it came, for the caller to refuse, and the timer stays, so that the
        // signal still ends a body that stalls (it keeps the request until then; a rare case).
        armed = true;
        return response;
      }
      const body = NULL_BODY_STATUSES.has(response.status) ? null : await response.arrayBuffer();
      return new Response(body, {
        status: response.status,
        // fetch decodes the status line as UTF-8: a reason phrase beyond Latin-1 (a gateway's
        // localised one, or a Latin-1 byte read as U+FFFD) is one no Response can be built with.
        // Dropped, not thrown: nothing judges a response by it, and the status and body are what
        // the caller classifies (a refusal stays a refusal).
        statusText: REASON_PHRASE.test(response.statusText) ? response.statusText : '',
        headers: response.headers,
      });
    } finally {
      if (!armed) clearTimeout(timer);
    }
  };
}

/**
 * {@link backChannelFetch} for requests to this app's own API (the resource server): traced and
 * logged the same way, but its `Date` header says nothing about the provider's clock.
 */
export function apiFetch(url: string, options: FetchOptions): Promise<Response> {
  return tracedFetch(url, options, 'api call');
}

async function tracedFetch(
  url: string,
  options: FetchOptions,
  label: 'back-channel' | 'api call',
): Promise<Response> {
  const trace = traces.getStore();
  const method = options.method ?? 'GET';
  const assertion = readClientAssertion(options.body);
  if (assertion) trace?.clientAssertions.push(assertion);
  const proof = readDpopProof(options.headers);
  if (proof) trace?.dpopProofs.push(proof);
  const started = performance.now();
  const sentAt = Date.now();
  const target = stripQuery(url);
  try {
    const response = await sendRequest(url, options);
    if (label === 'back-channel')
      observeProviderResponse({ method, url }, response.headers, sentAt, Date.now());
    if (trace && isJwtResponse(response)) {
      // A copy of the body: openid-client reads the original.
      trace.jwtResponses.push({ url: target, jwt: (await response.clone().text()).trim() });
    }
    const ms = Math.round(performance.now() - started);
    trace?.requests.push({ method, url: target, status: response.status, ms, start: started });
    log.info(label, { method, url: target, status: response.status, ms });
    return response;
  } catch (err) {
    const ms = Math.round(performance.now() - started);
    trace?.requests.push({ method, url: target, ms, start: started });
    log.warn(`${label} failed`, { method, url: target, ms, reason: (err as Error).name });
    throw err;
  }
}
