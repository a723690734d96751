/**
 * The provider's own notion of a loopback URL (it stands in for a third party, so it shares no
 * code with the app). Used to allow, in development only, fetching a client's `jwks_uri` on this
 * machine, which oidc-provider's SSRF guard refuses by default.
 */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}
