import type { Middleware } from 'koa';

/**
 * How the bundled provider answers a refused client authentication, so that the app's tools can
 * be tried against the answers real deployments give:
 *
 * - `explain` (default): `401 invalid_client` with the reason in `error_description`
 *   (provider/client-auth-errors.ts), a development provider's candour;
 * - `opaque`: `401 invalid_client` and nothing more, as production providers answer;
 * - `empty-403`: `403` with an empty body and no content type, as a gateway or a web application
 *   firewall in front of a provider answers (no OAuth error at all);
 * - `html-400`: `400` with an HTML error page, as some providers render errors.
 *
 * The reason is logged by the provider either way.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2 (what a conforming refusal looks like)
 */

export const REFUSAL_STYLES = ['explain', 'opaque', 'empty-403', 'html-400'] as const;
export type RefusalStyle = (typeof REFUSAL_STYLES)[number];

function isClientRefusal(body: unknown): boolean {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { error?: unknown }).error === 'invalid_client'
  );
}

/** Koa middleware rewriting `invalid_client` answers into `style`. */
export function refusalStyle(style: RefusalStyle): Middleware {
  return async (ctx, next) => {
    await next();
    if (style === 'explain' || !isClientRefusal(ctx.body)) return;
    switch (style) {
      case 'opaque':
        ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
        return;
      case 'empty-403':
        ctx.status = 403;
        ctx.body = '';
        ctx.remove('content-type');
        ctx.remove('www-authenticate');
        return;
      case 'html-400':
        ctx.status = 400;
        ctx.type = 'html';
        ctx.body =
          '<!doctype html><html><head><title>Bad Request</title></head>' +
          '<body><h1>Bad Request</h1><p>The request could not be processed.</p></body></html>';
        return;
    }
  };
}
