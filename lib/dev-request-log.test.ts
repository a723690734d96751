import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

// Next.js's own decision whether `next dev` prints a request line, fed with this app's config.
import { ignoreLoggingIncomingRequests } from 'next/dist/server/dev/log-requests';
import type { NextConfig } from 'next';

// next.config.js is plain JavaScript (no declaration file): loaded by URL, typed by Next's type.
const configUrl = new URL('../next.config.js', import.meta.url).href;
const nextConfig = ((await import(configUrl)) as { default: NextConfig }).default;

/**
 * `npm run dev` prints every request URL. The callback's carries the authorization code and the
 * state, which the logs must never hold (lib/log.ts): next.config.js leaves that route out.
 */

type LoggingConfig = Parameters<typeof ignoreLoggingIncomingRequests>[1];

function printed(url: string): boolean {
  return !ignoreLoggingIncomingRequests(
    { url } as Parameters<typeof ignoreLoggingIncomingRequests>[0],
    nextConfig.logging as LoggingConfig,
  );
}

describe('the development request log', () => {
  it('leaves out the callback, whose URL carries the code and the state', () => {
    assert.equal(printed('/auth/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj'), false);
    assert.equal(printed('/auth/callback?error=access_denied&state=af0ifjsldkj'), false);
    assert.equal(printed('/auth/callback/?code=x'), false);
    assert.equal(printed('/auth/callback'), false);
  });

  it('still prints the other routes', () => {
    for (const url of [
      '/',
      '/profile',
      '/auth/login?returnTo=%2Fprofile',
      '/auth/callbacks',
      '/api/me',
    ])
      assert.equal(printed(url), true, url);
  });
});
