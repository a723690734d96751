import { sealData } from 'iron-session';
import type { JWTPayload } from 'jose';

import { AuthError } from './errors';
import { viewJwt, type JwtView } from './jwt-view';
import { log } from './log';
import type { SignInResult } from './sign-in';

/**
 * What a session holds, and how a completed sign-in becomes one that fits in a cookie.
 * Kept free of Next.js so that it can be tested on its own.
 */

export type SessionData = {
  readonly sub: string;
  /** Kept for `id_token_hint` at logout; its claims are shown on /profile. */
  readonly id_token?: string | undefined;
  /** Stored only when the ID token itself had to be dropped to fit the cookie. */
  readonly claims?: JWTPayload | undefined;
  readonly userinfo?: Record<string, unknown> | undefined;
  /** Decoded header and payload of the client assertion that redeemed the code. */
  readonly client_assertion?: JwtView | undefined;
  /** Seconds since the epoch. */
  readonly signed_in_at: number;
};

/**
 * Claims whose value the ID token vouches for (signed, checked at sign-in: issuer, audience,
 * subject, times, nonce, how and where the user authenticated). UserInfo may complete the profile
 * but never replace these: its `iss`/`aud` describe the UserInfo response itself, and an unsigned
 * response is only as good as the TLS connection it came over.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDToken (§2)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfoResponse (§5.3.2)
 */
export const ID_TOKEN_AUTHORITATIVE_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'auth_time',
  'nonce',
  'acr',
  'amr',
  'azp',
  'sid',
  'at_hash',
  'c_hash',
  's_hash',
  'cnf',
]);

/**
 * The user's claims as the app shows them: the ID token's, completed by UserInfo's profile
 * claims. UserInfo never replaces an {@link ID_TOKEN_AUTHORITATIVE_CLAIMS} member, and `sub` is
 * always the session's.
 */
export function mergeUserClaims(
  idTokenClaims: Readonly<Record<string, unknown>>,
  userinfo: Readonly<Record<string, unknown>> | undefined,
  sub: string,
): Record<string, unknown> {
  const profile = Object.entries(userinfo ?? {}).filter(
    ([name]) => !ID_TOKEN_AUTHORITATIVE_CLAIMS.has(name),
  );
  return { ...idTokenClaims, ...Object.fromEntries(profile), sub };
}

/** A session lives this long (seconds), then the user signs in again. */
export const SESSION_TTL_SECONDS = 8 * 60 * 60;
/** Browsers drop cookies over 4096 bytes (name, value and attributes); keep a margin. */
export const MAX_SEALED_LENGTH = 3800;

/**
 * What to store for a completed sign-in, trimmed to fit a cookie: large ID tokens or UserInfo
 * responses (group claims, say) are dropped in favour of a claims subset rather than failing.
 */
export async function fitSessionData(result: SignInResult, password: string): Promise<SessionData> {
  const base = {
    sub: result.claims.sub,
    signed_in_at: Math.floor(Date.now() / 1000),
    client_assertion: viewJwt(result.clientAssertion),
  };
  const { iss, aud, exp, iat, auth_time, name, email, preferred_username } =
    result.claims as JWTPayload & Record<string, unknown>;
  const candidates: SessionData[] = [
    { ...base, id_token: result.id_token, userinfo: result.userinfo },
    { ...base, id_token: result.id_token },
    {
      ...base,
      claims: {
        sub: base.sub,
        iss,
        aud,
        exp,
        iat,
        auth_time,
        name,
        email,
        preferred_username,
      } as JWTPayload,
    },
    { sub: base.sub, signed_in_at: base.signed_in_at },
  ];
  for (const candidate of candidates) {
    const sealed = await sealData(candidate, { password, ttl: SESSION_TTL_SECONDS });
    if (sealed.length <= MAX_SEALED_LENGTH) {
      if (candidate !== candidates[0])
        log.warn('session trimmed to fit its cookie', { sealed: sealed.length });
      return candidate;
    }
  }
  throw new AuthError('signin_failed', { detail: 'even a minimal session does not fit a cookie' });
}
