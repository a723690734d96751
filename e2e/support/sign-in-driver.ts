import { HttpAgent, type HttpResponse } from './http-agent';
import type { AuthorizationRecord, Fault, MisbehavingProvider } from './misbehaving-provider';

/**
 * Drives one sign-in of the app against the misbehaving provider over plain HTTP and reports what
 * came of it: a session (and who `/api/me` says is signed in) or the error page (and its code),
 * whether the code was redeemed, and whether UserInfo was called.
 */

export type Outcome = {
  /**
   * `error`: the sign-in ended on the error page (an earlier session may still be there: see
   * `meStatus`); `session`: it did not, and `/api/me` answered 200.
   */
  readonly kind: 'session' | 'error' | 'unexpected';
  /** Who `/api/me` says is signed in. */
  readonly sub?: string | undefined;
  /** Every claim `/api/me` shows for the session. */
  readonly claims?: Readonly<Record<string, unknown>> | undefined;
  /** The code on the error page. */
  readonly code?: string | undefined;
  /** Where the callback sent the browser. */
  readonly landing: string | undefined;
  /** The error page, when there was one. */
  readonly errorPage?: HttpResponse | undefined;
  readonly authorization: AuthorizationRecord | undefined;
  /** The callback URL the provider sent the browser to. */
  readonly callback: string | undefined;
  /** Token requests that carried the issued code (none issued: every token request meanwhile). */
  readonly redemptions: number;
  readonly userinfoCalls: number;
  /** Time the app took to answer the callback. */
  readonly callbackMs: number;
  /** `/api/me` status after the sign-in. */
  readonly meStatus: number;
};

/** The stable code shown on the app's error page. */
export function readErrorCode(html: string): string | undefined {
  return /data-testid="error-code"[^>]*>([^<]*)</.exec(html)?.[1];
}

/** Asks `/api/me` who is signed in for `agent`. */
export async function askWhoIsSignedIn(
  agent: HttpAgent,
  appUrl: string,
): Promise<{
  status: number;
  sub: string | undefined;
  claims: Record<string, unknown> | undefined;
}> {
  const me = await agent.request(`${appUrl}/api/me`);
  if (me.status !== 200) return { status: me.status, sub: undefined, claims: undefined };
  const claims = JSON.parse(me.body) as Record<string, unknown>;
  return {
    status: me.status,
    sub: typeof claims.sub === 'string' ? claims.sub : undefined,
    claims,
  };
}

/** Follows the app's answer to a callback to the error page or the signed-in page. */
export async function settleCallback(
  agent: HttpAgent,
  appUrl: string,
  op: MisbehavingProvider,
  callback: string,
  authorization: AuthorizationRecord | undefined,
  userinfoBefore: number,
): Promise<Outcome> {
  const started = performance.now();
  const answer = await agent.request(callback);
  const callbackMs = Math.round(performance.now() - started);
  const landing = answer.location;
  let errorPage: HttpResponse | undefined;
  let code: string | undefined;
  if (answer.status === 303 && landing?.startsWith(`${appUrl}/auth/error?`)) {
    errorPage = await agent.request(landing);
    code = readErrorCode(errorPage.body);
  }
  const me = await askWhoIsSignedIn(agent, appUrl);
  // The error page decides: a refused callback may leave an earlier session in place.
  const kind =
    errorPage?.status === 200 && code ? 'error' : me.status === 200 ? 'session' : 'unexpected';
  return {
    kind,
    sub: me.sub,
    claims: me.claims,
    code,
    landing,
    errorPage,
    authorization,
    callback,
    redemptions: op.redemptionsOf(authorization?.code).length,
    userinfoCalls: op.userinfoRequests.length - userinfoBefore,
    callbackMs,
    meStatus: me.status,
  };
}

/**
 * Starts a sign-in at the app and lets the provider answer the authorization request (with
 * `fault` armed). Returns the callback URL without visiting it.
 */
export async function authorize(
  agent: HttpAgent,
  appUrl: string,
  op: MisbehavingProvider,
  fault: Fault,
  returnTo = '/profile',
): Promise<{ callback: string; authorization: AuthorizationRecord | undefined }> {
  const login = await agent.request(
    `${appUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`,
  );
  if (login.status !== 303 || !login.location?.startsWith(`${op.issuer}/authorize?`)) {
    throw new Error(
      `/auth/login did not redirect to the provider: ${login.status} ${login.location ?? ''}`,
    );
  }
  op.arm(fault);
  const before = op.authorizations.length;
  const authorization = await agent.request(login.location);
  if (authorization.status !== 303 || !authorization.location)
    throw new Error(`the provider did not redirect back: ${authorization.status}`);
  return { callback: authorization.location, authorization: op.authorizations[before] };
}

/** A whole sign-in with `fault` armed, in `agent` (a fresh one by default). */
export async function signIn(
  appUrl: string,
  op: MisbehavingProvider,
  fault: Fault,
  agent = new HttpAgent(),
): Promise<Outcome> {
  const userinfoBefore = op.userinfoRequests.length;
  const { callback, authorization } = await authorize(agent, appUrl, op, fault);
  return settleCallback(agent, appUrl, op, callback, authorization, userinfoBefore);
}

/**
 * A sign-in whose authorization request the provider refuses on the back channel (a pushed
 * authorization request, RFC 9126): `fault` is armed before `/auth/login`, which then ends on
 * the error page itself, with no code issued.
 */
export async function signInFailingAtLogin(
  appUrl: string,
  op: MisbehavingProvider,
  fault: Fault,
  agent = new HttpAgent(),
): Promise<Outcome> {
  const userinfoBefore = op.userinfoRequests.length;
  const authorizationsBefore = op.authorizations.length;
  const tokenRequestsBefore = op.tokenRequests.length;
  op.arm(fault);
  let login: HttpResponse;
  try {
    login = await agent.request(`${appUrl}/auth/login?returnTo=${encodeURIComponent('/profile')}`);
  } finally {
    // Nothing reached the authorization endpoint: the fault must not leak into the next case.
    if (op.authorizations.length === authorizationsBefore) op.arm({});
  }
  const landing = login.location;
  let errorPage: HttpResponse | undefined;
  let code: string | undefined;
  if (login.status === 303 && landing?.startsWith(`${appUrl}/auth/error?`)) {
    errorPage = await agent.request(landing);
    code = readErrorCode(errorPage.body);
  }
  const me = await askWhoIsSignedIn(agent, appUrl);
  return {
    kind:
      me.status === 200 ? 'session' : errorPage?.status === 200 && code ? 'error' : 'unexpected',
    sub: me.sub,
    code,
    landing,
    errorPage,
    authorization: op.authorizations[authorizationsBefore],
    callback: undefined,
    // No code was issued: every token request made meanwhile counts (none may be).
    redemptions: op.tokenRequests.length - tokenRequestsBefore,
    userinfoCalls: op.userinfoRequests.length - userinfoBefore,
    callbackMs: 0,
    meStatus: me.status,
  };
}
