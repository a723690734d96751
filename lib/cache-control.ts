/**
 * `Cache-Control` of the app's own small answers with a body: the JSON of `/api/me`, of the API
 * and of every error a route handler answers, and the 503 page while the session store is down.
 *
 * - `no-store`: they carry a user's claims or describe this moment; no cache keeps them.
 * - `no-transform`: no one re-encodes them on the way, Next.js included. Next.js compresses
 *   every response body a client accepts gzip for (its `compress` option, on by default), however
 *   small it is: it drops the `Content-Length` a route handler sets and sends the headers before
 *   the body, so the 1 KB threshold of its compression middleware never applies. For a body of a
 *   few hundred bytes, gzip saves nothing on the wire and costs a zlib stream per response: about
 *   0.3 ms per answer here, measured on `/api/me` (0.91 against 0.57 ms with a client that accepts
 *   gzip, as browsers and `fetch` do). The middleware leaves `no-transform` responses as they are.
 *   Pages and static assets are unaffected: they are larger, and still compressed.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5 (no-store)
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.6 (no-transform)
 * @see https://nextjs.org/docs/app/api-reference/config/next-config-js/compress
 */
export const NO_STORE_NO_TRANSFORM = 'no-store, no-transform';
