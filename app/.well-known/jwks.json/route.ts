import { describeError, log } from '@/lib/log';
import { getClientKeySet } from '@/lib/keys';

// MUST be rendered per request: a static route would bake today's keys into the build.
export const dynamic = 'force-dynamic';

/**
 * `GET /.well-known/jwks.json` — the client's public keys (the provider's view of this client's
 * `jwks_uri`). Public members only, each with `kid`, `alg` and `use: sig`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-2 (jwks_uri client metadata)
 */
export async function GET() {
  try {
    const { published } = await getClientKeySet();
    return Response.json(
      { keys: published },
      // Short: providers cache a client's JWKS for max(their floor, max-age).
      { headers: { 'cache-control': 'public, max-age=60' } },
    );
  } catch (err) {
    log.error('client keys unavailable', { reason: describeError(err) });
    return Response.json({ error: 'keys_unavailable' }, { status: 503, headers: { 'cache-control': 'no-store' } });
  }
}
