import { after, type NextRequest } from 'next/server';

import { endLoggedOutSessions } from '@/lib/backchannel-logout';
import { readBoundedText } from '@/lib/bounded-body';
import { getConfig } from '@/lib/config';
import { getProvider } from '@/lib/discovery';
import { describeError, log } from '@/lib/log';
import { LOGOUT_TOKEN_MAX_LENGTH, LogoutTokenError, validateLogoutToken } from '@/lib/logout-token';
import { getSessionStore } from '@/lib/session-backend';
import type { SessionRecord } from '@/lib/session-record';
import { isSessionStoreUnavailable } from '@/lib/session-store';
import { revokeRefreshToken } from '@/lib/token-refresh';
import { NO_STORE_NO_TRANSFORM } from '@/lib/cache-control';
import { otherMethodsThanPost } from '@/lib/route-methods';

export const dynamic = 'force-dynamic';

const NO_STORE = { 'cache-control': NO_STORE_NO_TRANSFORM } as const;
/** The longest Logout Token accepted, form-encoded (at most 3 bytes per character), with room. */
const MAX_BODY_BYTES = 3 * LOGOUT_TOKEN_MAX_LENGTH + 1024;

function refuse(error: string, description: string): Response {
  return Response.json(
    { error, error_description: description },
    { status: 400, headers: NO_STORE },
  );
}

function unavailable(description: string): Response {
  return Response.json(
    { error: 'temporarily_unavailable', error_description: description },
    { status: 503, headers: { ...NO_STORE, 'retry-after': '5' } },
  );
}

/**
 * `POST /auth/backchannel-logout` — OpenID Connect Back-Channel Logout 1.0: the provider tells
 * this app, server to server, that a user signed out there. The Logout Token is validated as §2.6
 * says (lib/logout-token.ts); then every session of that provider session (`sid`; of that user
 * only when the token names a `sub` too), or every session of that user (`sub`) when the token
 * names no `sid`, is deleted from the session store:
 * with Redis, on every instance at once. The sessions' cookies, replayed, find nothing.
 *
 * Answers (§2.8): 200 with `Cache-Control: no-store` once done; 400 with an error body for every
 * refused token, and nothing ended; 503 when the session store or the provider's keys cannot be
 * reached (not the token's fault: its `jti` is not consumed, the provider may retry).
 *
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#BCRequest (§2.5)
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#BCActions (§2.7)
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#BCResponse (§2.8)
 */
export async function POST(request: NextRequest) {
  const type = request.headers.get('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded'))
    return refuse('invalid_request', 'The logout token must be sent form-encoded (§2.5)');
  let tokens: string[];
  try {
    // MUST: anyone can POST here; a body is read only up to what a Logout Token can need.
    const body = await readBoundedText(request, MAX_BODY_BYTES);
    if (body === undefined) return refuse('invalid_request', 'The request body is too large');
    tokens = new URLSearchParams(body).getAll('logout_token');
  } catch {
    return refuse('invalid_request', 'The request body could not be read');
  }
  const [logoutToken] = tokens;
  if (tokens.length !== 1 || logoutToken === undefined || logoutToken === '')
    return refuse('invalid_request', 'Exactly one logout_token parameter is required');

  const settings = getConfig();
  const store = getSessionStore();
  let claims: Awaited<ReturnType<typeof validateLogoutToken>>;
  try {
    const { jwks } = await getProvider();
    claims = await validateLogoutToken(logoutToken, {
      jwks,
      issuer: settings.issuer,
      clientId: settings.clientId,
      algorithms: [settings.idTokenSignedResponseAlg],
      // Shared by every instance when the store is Redis: a token replayed to another instance
      // is still a replay.
      replay: store,
    });
  } catch (err) {
    if (err instanceof LogoutTokenError) {
      log.warn('back-channel logout refused', { code: err.code, detail: err.message });
      if (err.code === 'logout_token_keys_unavailable') return unavailable(err.description);
      return refuse('invalid_request', err.description);
    }
    log.warn('back-channel logout not processed', { reason: describeError(err) });
    if (isSessionStoreUnavailable(err))
      return unavailable('The session store cannot be reached; retry the logout');
    return unavailable('The provider cannot be reached to verify the logout token');
  }

  let ended: SessionRecord[];
  try {
    // On a store failure the token's jti is released: the provider's retry is not a replay.
    ended = await endLoggedOutSessions(store, claims);
  } catch (err) {
    log.warn('back-channel logout not processed', { reason: describeError(err) });
    return unavailable('The session store cannot be reached; retry the logout');
  }
  log.info('back-channel logout', {
    by: claims.sid !== undefined ? 'sid' : 'sub',
    sub: claims.sub,
    sessions_ended: ended.length,
  });
  // §2.7: refresh tokens of the ended sessions are revoked too (best effort, after answering:
  // the provider is waiting, and it usually revoked them already).
  const refreshTokens = ended.flatMap((r) =>
    r.tokens.refresh_token ? [{ token: r.tokens.refresh_token, sub: r.sub }] : [],
  );
  if (refreshTokens.length > 0) {
    after(async () => {
      for (const { token, sub } of refreshTokens) await revokeRefreshToken(token, sub);
    });
  }
  return new Response(null, { status: 200, headers: NO_STORE });
}

/** Every other method: 405 with Allow (RFC 9110 §15.5.6); OPTIONS lists the same. */
export const { OPTIONS, GET, PUT, DELETE, PATCH } = otherMethodsThanPost();
