import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';

import { authenticate } from './accounts';
import { consentPage, loginPage } from './views';

/**
 * The provider's own login and consent steps (oidc-provider leaves these to the deployment; its
 * "devInteractions" are for development only). Routes:
 *
 * - `GET  /interaction/:uid`          the login or consent page, as the prompt requires
 * - `POST /interaction/:uid/login`    check the password, finish the login prompt
 * - `POST /interaction/:uid/confirm`  grant the requested scopes, finish the consent prompt
 * - `POST /interaction/:uid/abort`    end with `access_denied`
 */

const ROUTE = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login|confirm|abort))?$/;
const MAX_FORM_BYTES = 8 * 1024;

async function readForm(
  req: NodeJS.ReadableStream & { headers: Record<string, string | string[] | undefined> },
): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams();
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += buffer.length;
    if (size > MAX_FORM_BYTES) throw new errors.InvalidRequest('form too large');
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Koa middleware serving the interaction routes; everything else goes on to oidc-provider. */
export function interactions(provider: Provider): Middleware {
  return async (ctx, next) => {
    const match = ROUTE.exec(ctx.path);
    if (!match) return next();
    const action = match[2];
    ctx.set('cache-control', 'no-store');

    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params } = details;
    const client = await provider.Client.find(String(params.client_id));
    const clientName = client?.clientName ?? String(params.client_id);

    if (ctx.method === 'GET' && action === undefined) {
      ctx.type = 'html';
      if (prompt.name === 'login') {
        ctx.body = loginPage({ uid: details.uid, clientName });
        return undefined;
      }
      if (prompt.name === 'consent') {
        const missing = [
          ...((prompt.details.missingOIDCScope as string[] | undefined) ?? []),
          ...Object.values(
            (prompt.details.missingResourceScopes as Record<string, string[]> | undefined) ?? {},
          ).flat(),
        ];
        ctx.body = consentPage({
          uid: details.uid,
          clientName,
          scopes: missing,
          login: String(details.session?.accountId),
        });
        return undefined;
      }
      throw new errors.InvalidRequest(`unsupported prompt ${prompt.name}`);
    }

    if (ctx.method !== 'POST') {
      ctx.status = 405;
      return undefined;
    }

    if (action === 'login') {
      if (prompt.name !== 'login') throw new errors.InvalidRequest('no login is expected here');
      const form = await readForm(ctx.req);
      const login = form.get('login') ?? '';
      const accountId = authenticate(login, form.get('password') ?? '');
      if (!accountId) {
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = loginPage({
          uid: details.uid,
          clientName,
          login,
          error: 'Wrong username or password.',
        });
        return undefined;
      }
      return provider.interactionFinished(
        ctx.req,
        ctx.res,
        { login: { accountId } },
        { mergeWithLastSubmission: false },
      );
    }

    if (action === 'confirm') {
      if (prompt.name !== 'consent') throw new errors.InvalidRequest('no consent is expected here');
      const accountId = details.session?.accountId;
      if (!accountId) throw new errors.InvalidRequest('no signed-in account');
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId, clientId: String(params.client_id) });
      if (!grant) throw new errors.InvalidRequest('grant not found');
      const missingScope = prompt.details.missingOIDCScope as string[] | undefined;
      if (missingScope) grant.addOIDCScope(missingScope.join(' '));
      const missingClaims = prompt.details.missingOIDCClaims as string[] | undefined;
      if (missingClaims) grant.addOIDCClaims(missingClaims);
      const missingResourceScopes = prompt.details.missingResourceScopes as
        Record<string, string[]> | undefined;
      for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      return provider.interactionFinished(
        ctx.req,
        ctx.res,
        { consent: details.grantId ? {} : { grantId } },
        { mergeWithLastSubmission: true },
      );
    }

    // abort
    return provider.interactionFinished(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'End-User denied the request' },
      { mergeWithLastSubmission: false },
    );
  };
}
