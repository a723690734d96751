import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import type { KoaContextWithOIDC } from 'oidc-provider';

import { driveSignIn } from '../provider/drive-sign-in';
import { startInProcessProvider, type InProcessProvider } from '../e2e/support/in-process-provider';
import { getConfig } from './config';
import { sealDpopJwk } from './dpop-client';
import { AuthError } from './errors';
import { completeSignIn, startSignIn } from './sign-in';
import { refreshUserApiToken } from './token-refresh';

/**
 * A token endpoint that ignores the DPoP proof and answers `token_type: Bearer` (RFC 9449 §5:
 * "the client MUST discard the response" when the protection matters, as it does here). The
 * app refuses the tokens (dpop_binding_invalid); what it refuses must not stay alive at the
 * provider: a refresh token that no session holds is revoked (RFC 7009 §2). Against the bundled
 * provider in this process (OIDC_DPOP=true, refresh tokens rotated), whose token responses a
 * middleware rewrites to Bearer on demand.
 */

const appUrl = 'http://localhost:3995';
const redirectUri = `${appUrl}/auth/callback`;
let op: InProcessProvider;
/** Rewrite the next token responses of this grant type to token_type Bearer. */
let downgrade: string | undefined;
/** Refresh tokens the token endpoint handed out, in order. */
const issued: string[] = [];

before(async () => {
  op = await startInProcessProvider(appUrl, { keyType: 'ec', appEnv: { OIDC_DPOP: 'true' } });
  op.provider.use(async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    await next();
    if (ctx.path !== '/token' || ctx.status !== 200) return;
    const body = ctx.body as Record<string, unknown>;
    if (typeof body.refresh_token === 'string') issued.push(body.refresh_token);
    if (downgrade !== undefined && ctx.oidc?.params?.grant_type === downgrade)
      ctx.body = { ...body, token_type: 'Bearer' };
  });
  // The server was started with the middleware composed then: serve the new composition.
  op.server.removeAllListeners('request');
  op.server.on('request', op.provider.callback());
});

after(() => op.stop());

beforeEach(() => {
  downgrade = undefined;
});

async function signIn() {
  const { url, transaction } = await startSignIn('/profile');
  const callback = await driveSignIn(url, {
    login: 'alice',
    password: 'alice-password',
    redirectUri,
  });
  return completeSignIn(callback.searchParams, transaction);
}

/** Whether the provider would still honour this refresh token. */
async function alive(refreshToken: string): Promise<boolean> {
  const token = await op.provider.RefreshToken.find(refreshToken);
  return token !== undefined && !token.isExpired && !token.consumed;
}

const bindingRefused = (err: unknown) =>
  err instanceof AuthError && err.code === 'dpop_binding_invalid';

describe('a Bearer answer to a DPoP token request leaves no grant alive', () => {
  it('sign-in: the refused response’s refresh token is revoked', async () => {
    downgrade = 'authorization_code';
    const before = issued.length;
    await assert.rejects(signIn(), bindingRefused);
    const refused = issued.slice(before);
    assert.equal(refused.length, 1, 'the provider issued a refresh token with the Bearer answer');
    assert.equal(await alive(refused[0] as string), false, 'the refused refresh token is revoked');
  });

  it('refresh: the rotated refresh token of the refused response is revoked', async () => {
    const result = await signIn();
    assert.ok(result.refresh_token && result.dpop);
    assert.equal(await alive(result.refresh_token), true);
    downgrade = 'refresh_token';
    const before = issued.length;
    await assert.rejects(
      refreshUserApiToken(result.refresh_token, 'alice', {
        dpop_key: await sealDpopJwk(result.dpop.key, getConfig().sessionPasswords.seal),
      }),
      bindingRefused,
    );
    const rotated = issued.slice(before);
    assert.equal(rotated.length, 1, 'the provider rotated the refresh token');
    assert.notEqual(rotated[0], result.refresh_token);
    assert.equal(await alive(rotated[0] as string), false, 'the rotated refresh token is revoked');
  });
});
