import type { NextRequest } from 'next/server';

import { auth0 } from './lib/auth0';

/** Mounts the SDK's routes (/auth/login, /auth/callback, …) and rolls the session, as documented. */
export async function proxy(request: NextRequest) {
  return auth0.middleware(request);
}

export const config = {
  // /bare (the benchmark's measure of Next.js alone) is left out.
  matcher: ['/((?!_next/static|_next/image|favicon.ico|sitemap.xml|robots.txt|bare$).*)'],
};
