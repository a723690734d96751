import { describeError, log } from '@/lib/log';
import { otherMethodsThanGet } from '@/lib/route-methods';
import { getConfig } from '@/lib/config';
import { getClientKeySet } from '@/lib/keys';
import { withSecurityHeaders } from '@/lib/response-security';
import { NO_STORE_NO_TRANSFORM } from '@/lib/cache-control';

// MUST be rendered per request: a static route would bake today's keys into the build.
export const dynamic = 'force-dynamic';

/**
 * `GET /.well-known/jwks.json` — the client's public keys (the provider's view of this client's
 * `jwks_uri`). Public members only, each with `kid`, `use: sig`, `alg` (unless an Ed25519 key
 * leaves the name open) and, for a key with a certificate, `x5c` and `x5t#S256`. Every key of the
 * key file, so keys being rotated in or out are published; a changed key file is served within a
 * second (lib/keys.ts).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2 (jwks_uri client metadata)
 */
async function serveJwks() {
  try {
    const { published } = await getClientKeySet();
    return Response.json(
      { keys: published },
      // Short: a provider that fetched the JWKS before a key was rotated in does not see it
      // until its copy expires (at least 60 s for oidc-provider, whatever max-age says).
      {
        headers: {
          'cache-control': `public, max-age=${getConfig().clientJwksMaxAgeSeconds}`,
        },
      },
    );
  } catch (err) {
    log.error('client keys unavailable', { reason: describeError(err) });
    return Response.json(
      { error: 'keys_unavailable' },
      { status: 503, headers: { 'cache-control': NO_STORE_NO_TRANSFORM } },
    );
  }
}

export const GET = withSecurityHeaders(serveJwks);

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, POST, PUT, DELETE, PATCH } = otherMethodsThanGet();
