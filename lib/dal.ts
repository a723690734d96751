import 'server-only';

import { decodeJwt, type JWTPayload } from 'jose';
import { redirect } from 'next/navigation';
import { cache } from 'react';

import { mergeUserClaims, type SessionData } from './session-data';
import { isSessionUnavailable, readSessionState, type SessionState } from './session';

/**
 * Data access layer: the only way pages learn who is signed in (as in the Next.js authentication
 * guide). Reading it costs one cookie decryption and one session-store read, no request to the
 * provider; React's `cache` makes that once per render.
 *
 * A page cannot answer 503 itself: when the session store is unreachable, the page sends the
 * browser to `/auth/unavailable`, which does (never a 500, never a silent sign-out).
 */

/**
 * Runs `read`, a read of the session store for the page at `returnTo`; when the store is
 * unreachable, sends the browser to `/auth/unavailable` (503). Every store read of a page goes
 * through here, not only the session's: the store may fail between two reads of one page.
 */
export async function readForPage<T>(returnTo: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (isSessionUnavailable(err))
      redirect(`/auth/unavailable?returnTo=${encodeURIComponent(returnTo)}`);
    throw err;
  }
}

const getState = cache((returnTo: string): Promise<SessionState> =>
  readForPage(returnTo, readSessionState),
);

/** The current session, or undefined. */
export async function getSession(returnTo = '/'): Promise<SessionData | undefined> {
  const current = await getState(returnTo);
  return current.state === 'active' ? current.record.user : undefined;
}

/**
 * Whether this browser's session was ended by the provider (its refresh token refused), so that a
 * page can say so instead of silently showing "not signed in".
 */
export async function isSessionEnded(returnTo = '/'): Promise<boolean> {
  return (await getState(returnTo)).state === 'ended';
}

/**
 * The current session; without one, sends the browser to sign in (coming back to `returnTo`), or,
 * when the provider ended the session (its refresh token was refused), to a page that says so.
 */
export async function requireSession(returnTo: string): Promise<SessionData> {
  const current = await getState(returnTo);
  if (current.state === 'ended') redirect('/auth/error?code=session_expired');
  if (current.state !== 'active') redirect(`/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
  return current.record.user;
}

/** The ID token's claims of a session (verified at sign-in; the record is server-side). */
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
