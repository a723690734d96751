import { sealData } from 'iron-session';
import type { JWTPayload } from 'jose';

import { AuthError } from './errors';
import { describeSignInFlow, type SignInFlowView } from './flow-view';
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
  /** The pushed request and the DPoP binding of the sign-in (FAPI 2.0), for /profile. */
  readonly flow?: SignInFlowView | undefined;
};

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
  const flow = describeSignInFlow(result);
  const candidates: SessionData[] = [
    ...(flow ? [{ ...base, id_token: result.id_token, userinfo: result.userinfo, flow }] : []),
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
