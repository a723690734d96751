import type { SessionData } from './session-data';

/**
 * What the server keeps for one signed-in browser. The browser holds only a sealed reference to it
 * (its `id`, in the session cookie); the record itself lives in the session store (this process's
 * memory, or Redis), so no token ever reaches page scripts, a URL or the cookie, and ending a
 * session here ends it for every copy of the cookie.
 *
 * A plain, typed, JSON-serialisable object: a new concern (a per-session DPoP key, say) is a new
 * optional member, and records stored before it simply lack it.
 *
 * @see https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps#name-backend-for-frontend-bff
 */

/** The user's tokens, kept server-side only. */
export type SessionTokens = {
  /** The refresh token (rotated on every refresh by providers that rotate). */
  readonly refresh_token?: string | undefined;
  /**
   * The user's access token for the protected API (API_RESOURCE, API_SCOPE): an RFC 9068 JWT
   * obtained with a refresh grant carrying `resource` (RFC 8707). Absent until first needed.
   */
  readonly access_token?: string | undefined;
  /** `token_type` of the access token, lower case (`bearer`). */
  readonly token_type?: string | undefined;
  /**
   * When the access token expires, ms since the epoch (from `expires_in`, counted from the
   * request); undefined when the provider did not say (the token is then not reused).
   */
  readonly expires_at?: number | undefined;
  /** The scope granted with the access token, as the provider stated it. */
  readonly scope?: string | undefined;
  /** When the tokens were last refreshed, ms since the epoch. */
  readonly refreshed_at?: number | undefined;
  /** Refresh grants made for this session (for logs and the profile page). */
  readonly refresh_count?: number | undefined;
};

/** The sign-in's access token as the record keeps it. */
export type SignInTokenRecord = {
  readonly access_token: string;
  /** `token_type`, lower case (`bearer`, or `dpop`). */
  readonly token_type: string;
  /** When it expires, ms since the epoch (undefined when the provider did not say). */
  readonly expires_at: number | undefined;
  readonly scope: string | undefined;
};

export type SessionRecord = {
  /** 256 random bits, base64url: the session's key in the store, sealed in the cookie. */
  readonly id: string;
  /** The user (`sub` of the ID token). */
  readonly sub: string;
  /** The provider's session id (`sid` of the ID token), for back-channel logout. */
  readonly sid?: string | undefined;
  /** When the session began and when it ends at the latest, ms since the epoch. */
  readonly created_at: number;
  readonly expires_at: number;
  /** What pages show: ID token, UserInfo, the client assertion of the sign-in. */
  readonly user: SessionData;
  readonly tokens: SessionTokens;
  /**
   * The access token of the sign-in itself, with its expiry: the token UserInfo takes (audience:
   * the provider), not the API's (`tokens.access_token`, from a refresh with `resource`). Kept
   * apart from `tokens`, which refreshes replace, and never shown: not in `user`, the cookie, a
   * page or a log. Absent from records stored before it was kept.
   */
  readonly sign_in_token?: SignInTokenRecord | undefined;
  /**
   * The session's DPoP private key (RFC 9449), when DPoP is on: a private JWK sealed with
   * SESSION_SECRET (iron-session), so that the store (a Redis dump included) never holds it in
   * the clear. Every instance unseals it and imports it non-extractable (./dpop-client.ts).
   */
  readonly dpop_key?: string | undefined;
};

/** Why a session ended before its time, kept briefly so the next page can say so. */
export type EndReason = 'refresh_rejected';

/** What the store holds under a session id. */
export type StoredSession =
  | { readonly state: 'active'; readonly record: SessionRecord; readonly version: number }
  | { readonly state: 'ended'; readonly reason: EndReason };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a record read back from the store (JSON from Redis): anything malformed is no session
 * rather than an exception deep in a page.
 */
export function parseSessionRecord(value: unknown): SessionRecord | undefined {
  if (!isObject(value)) return undefined;
  const { id, sub, sid, created_at, expires_at, user, tokens } = value;
  if (typeof id !== 'string' || typeof sub !== 'string') return undefined;
  if (typeof created_at !== 'number' || typeof expires_at !== 'number') return undefined;
  if (sid !== undefined && typeof sid !== 'string') return undefined;
  if (!isObject(user) || user.sub !== sub || typeof user.signed_in_at !== 'number')
    return undefined;
  if (!isObject(tokens)) return undefined;
  const { sign_in_token } = value;
  if (sign_in_token !== undefined && !isObject(sign_in_token)) return undefined;
  return value as SessionRecord;
}

/** The access token of a record, when it is still good for at least `marginMs`. */
export function findUsableAccessToken(
  tokens: SessionTokens,
  now: number,
  marginMs: number,
): { readonly access_token: string; readonly expires_at: number } | undefined {
  const { access_token, expires_at } = tokens;
  if (access_token === undefined || expires_at === undefined) return undefined;
  return expires_at - now > marginMs ? { access_token, expires_at } : undefined;
}
