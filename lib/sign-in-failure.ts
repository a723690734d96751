import 'server-only';

import { NextResponse } from 'next/server';

import { getConfig } from './config';
import { AuthError, ConfigError } from './errors';
import { describeError, log } from './log';
import { storeErrorFlash } from './session';

/**
 * The one way a sign-in route ends badly: log what happened (safely), keep the OAuth error for the
 * error page in a sealed cookie, and send the browser to `/auth/error?code=…`. The error page shows
 * a stable code and a hint; never a stack trace, and never text taken from its own URL.
 */

/** A 303 redirect that is never cached. */
export function redirectSeeOther(target: URL | string): NextResponse {
  const response = NextResponse.redirect(target, 303);
  response.headers.set('cache-control', 'no-store');
  return response;
}

/** Ends a failed sign-in on the error page. Route handlers only. */
export async function failSignIn(err: unknown, step: string): Promise<NextResponse> {
  const authError =
    err instanceof AuthError
      ? err
      : new AuthError(err instanceof ConfigError ? 'app_misconfigured' : 'signin_failed', {
          detail: describeError(err),
          cause: err,
        });
  log.warn('sign-in failed', {
    step,
    code: authError.code,
    error: authError.error,
    detail: authError.detail ?? describeError(err),
  });
  await storeErrorFlash(authError);
  const target = new URL('/auth/error', getConfig().appUrl);
  target.searchParams.set('code', authError.code);
  return redirectSeeOther(target);
}
