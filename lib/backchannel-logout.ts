import type { ValidatedLogoutToken } from './logout-token';
import type { SessionRecord } from './session-record';
import type { SessionStore } from './session-store';

/**
 * Ends what an accepted Logout Token names: the sessions of its `sid` (of its `sub` only, when it
 * names both), or every session of its `sub` when it names no `sid`. With Redis, on every
 * instance at once.
 *
 * The token's `jti` was remembered when it was validated (the replay check). MUST: when the store
 * fails here, the `jti` is forgotten again before the error goes on. The route answers 503, and
 * the provider's retry of the same token must be taken, not refused as a replay while the
 * sessions live on. (A store that cannot even forget it refuses the retry until the token is too
 * old; nothing better is possible then.)
 *
 * @returns the records ended, for the caller to revoke their refresh tokens.
 * @throws whatever the store throws (`SessionStoreUnavailableError` when it is unreachable).
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#BCActions (§2.7)
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation (§2.6 step 8)
 */
export async function endLoggedOutSessions(
  store: Pick<SessionStore, 'removeBySid' | 'removeBySub' | 'forgetOnce'>,
  token: ValidatedLogoutToken,
): Promise<SessionRecord[]> {
  try {
    // MUST (§2.7): a token naming both identifies the sessions of that sid and that user; a sid
    // with another user's sub ends no session of a user the token does not name.
    if (token.sid !== undefined) return await store.removeBySid(token.sid, token.sub);
    return await store.removeBySub(token.sub ?? '');
  } catch (err) {
    await store.forgetOnce(token.jti).catch(() => undefined);
    throw err;
  }
}
