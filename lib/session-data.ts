import type { JWTPayload } from 'jose';

import { passwordsToOpen, type SessionPasswords } from './config';
import { describeSignInFlow, type SignInFlowView } from './flow-view';
import { viewJwt, type JwtView } from './jwt-view';
import { processSingleton } from './process-slot';
import { createSealCache } from './seal-cache';
import type { SessionRecord } from './session-record';
import type { SignInResult } from './sign-in';

/**
 * What a session shows (the user), how a completed sign-in becomes a session record, and the
 * session cookie, which holds only the sealed session id. Kept free of Next.js so that it can be
 * tested on its own.
 */

export type SessionData = {
  readonly sub: string;
  /** Kept for `id_token_hint` at logout; its claims are shown on /profile. */
  readonly id_token?: string | undefined;
  /** The ID token's claims, for sessions without the ID token itself. */
  readonly claims?: JWTPayload | undefined;
  readonly userinfo?: Record<string, unknown> | undefined;
  /** Decoded header and payload of the client assertion that redeemed the code. */
  readonly client_assertion?: JwtView | undefined;
  /** Seconds since the epoch. */
  readonly signed_in_at: number;
  /** The pushed request and the DPoP binding of the sign-in (FAPI 2.0), for /profile. */
  readonly flow?: SignInFlowView | undefined;
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
 * The session record for a completed sign-in: everything the sign-in produced, kept whole (the
 * record lives server-side, so nothing needs trimming to fit a cookie), with a new session id.
 * The sign-in's own access token (UserInfo's) is kept with its expiry, apart from the API access
 * token, which is not there yet: the first `getAccessToken()` gets it (lib/session.ts).
 */
export function buildSessionRecord(
  result: SignInResult,
  options: {
    readonly id: string;
    readonly now?: number;
    readonly ttlSeconds?: number;
    /** The session's DPoP private key, sealed (./dpop-client.ts `sealDpopJwk`). */
    readonly dpopKey?: string | undefined;
  },
): SessionRecord {
  const now = options.now ?? Date.now();
  const sid = (result.claims as { sid?: unknown }).sid;
  return {
    id: options.id,
    sub: result.claims.sub,
    sid: typeof sid === 'string' ? sid : undefined,
    created_at: now,
    expires_at: now + (options.ttlSeconds ?? SESSION_TTL_SECONDS) * 1000,
    user: {
      sub: result.claims.sub,
      signed_in_at: Math.floor(now / 1000),
      id_token: result.id_token,
      userinfo: result.userinfo,
      client_assertion: viewJwt(result.clientAssertion),
      flow: describeSignInFlow(result),
    },
    tokens: { refresh_token: result.refresh_token },
    sign_in_token: {
      access_token: result.access_token.access_token,
      token_type: result.access_token.token_type,
      expires_at: result.access_token.expires_at,
      scope: result.access_token.scope,
    },
    ...(options.dpopKey === undefined ? {} : { dpop_key: options.dpopKey }),
  };
}

/** What the session cookie holds: the session id, nothing else. */
type SessionCookie = { readonly id: string };

/**
 * Session cookies sealed or opened in this process: reading the session on each request costs no
 * crypto once the process has seen its cookie (./seal-cache.ts says when a hit is allowed). One
 * per process, not per Next.js bundle: the callback seals, every other route opens.
 */
const sessionCookieSeals = processSingleton('seal-cache:session', () => createSealCache());

/**
 * Seals a session id for the session cookie (iron-session: AES-256-CBC + HMAC-SHA-256 under the
 * current SESSION_SECRET). 308 bytes whatever the tokens: they stay on the server.
 *
 * @see https://github.com/vvo/iron-session
 */
export function sealSessionCookie(id: string, passwords: SessionPasswords): Promise<string> {
  const cookie: SessionCookie = { id };
  return sessionCookieSeals.seal(cookie, { password: passwords.seal, ttl: SESSION_TTL_SECONDS });
}

/**
 * Opens a session cookie with the current or a previous SESSION_SECRET. Tampered, truncated,
 * expired, foreign or malformed values all yield undefined: an unreadable cookie is no session.
 * Never throws.
 */
export async function openSessionCookie(
  sealed: string | undefined,
  passwords: SessionPasswords,
  onUnsealError?: (reason: string) => void,
): Promise<string | undefined> {
  if (!sealed || sealed.length > MAX_SEALED_LENGTH) return undefined;
  const maps = passwordsToOpen(sealed, passwords);
  let reason: string | undefined;
  for (const password of maps) {
    reason = undefined;
    try {
      const cookie = await sessionCookieSeals.unseal<Partial<SessionCookie>>(sealed, {
        password,
        ttl: SESSION_TTL_SECONDS,
        onUnsealError: (why) => {
          reason = why;
        },
      });
      if (reason !== undefined) continue;
      return typeof cookie.id === 'string' && /^[A-Za-z0-9_-]{43}$/.test(cookie.id)
        ? cookie.id
        : undefined;
    } catch {
      return undefined;
    }
  }
  // Once, for the last attempt: one unreadable cookie is one report.
  if (reason !== undefined) onUnsealError?.(reason);
  return undefined;
}
