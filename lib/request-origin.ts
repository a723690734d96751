/**
 * Whether a state-changing request (a POST) was made by a page of another origin, the check that
 * keeps other sites from signing users out or running the app's server actions in their name
 * (cross-site request forgery).
 *
 * MUST: both signals a browser sends are held to this app's origin. `Origin` (sent with every
 * POST by today's browsers; `null` from sandboxed or privacy-sensitive contexts) must be the app's
 * own. Fetch Metadata's `Sec-Fetch-Site`, which a page cannot set, must be `same-origin` (or
 * `none`, a user's own navigation): it still tells when `Origin` was stripped on the way (a
 * privacy extension, a proxy), and `same-site` is refused too, since a sibling subdomain is
 * another origin. A request that carries neither comes from no browser, and no other page can
 * make it on a user's behalf.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6454#section-7 (Origin)
 * @see https://www.w3.org/TR/fetch-metadata/#sec-fetch-site-header
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.7 (CSRF)
 */
export function isCrossOriginRequest(headers: Headers, appOrigin: string): boolean {
  const origin = headers.get('origin');
  if (origin !== null && origin !== appOrigin) return true;
  const site = headers.get('sec-fetch-site');
  return site !== null && site !== 'same-origin' && site !== 'none';
}
