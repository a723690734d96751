import 'server-only';

import { decodeJwt, type JWTPayload } from 'jose';
import { redirect } from 'next/navigation';
import { cache } from 'react';

import { mergeUserClaims, type SessionData } from './session-data';
import { readSession } from './session';

/**
 * Data access layer: the only way pages learn who is signed in (as in the Next.js authentication
 * guide). Reading it costs one cookie decryption and no request to the provider; React's `cache`
 * makes that once per render.
 */

/** The current session, or undefined. */
export const getSession = cache(readSession);

/** The current session; redirects to sign-in (coming back to `returnTo`) when there is none. */
export async function requireSession(returnTo: string): Promise<SessionData> {
  const session = await getSession();
  if (!session) redirect(`/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
  return session;
}

/** The ID token's claims of a session (verified at sign-in; the cookie is sealed). */
export function idTokenClaims(session: SessionData): JWTPayload {
  if (session.id_token) {
    try {
      return decodeJwt(session.id_token);
    } catch {
      // fall through to the stored subset
    }
  }
  return session.claims ?? { sub: session.sub };
}

/**
 * The user's claims as the app sees them: ID token claims, completed (never overridden: `iss`,
 * `aud`, `sub` and the other claims the ID token vouches for) by UserInfo.
 */
export function userClaims(session: SessionData): Record<string, unknown> {
  return mergeUserClaims(idTokenClaims(session), session.userinfo, session.sub);
}
