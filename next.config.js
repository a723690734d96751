import { enableAppCompileCache } from './scripts/compile-cache.mjs';

// Node.js's compile cache, in the app's own folder (scripts/compile-cache.mjs). `npm start`
// (scripts/start.mjs) turns it on before Next.js loads; this covers `next start` run directly.
enableAppCompileCache();

/**
 * Whether APP_URL, as the build sees it (the environment, or .env files, which Next.js loads before
 * this file), is https. Headers here are fixed when the app is built.
 */
function isHttpsAppUrl() {
  const appUrl = process.env.APP_URL;
  return (
    typeof appUrl === 'string' && URL.canParse(appUrl) && new URL(appUrl).protocol === 'https:'
  );
}

/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Load each route's modules when it is first requested, not all at start: the first page is
  // served sooner after a (re)start (measured by `npm run bench`: cold start), and routes nobody
  // calls cost no memory. The first request of each route pays its module loading once.
  experimental: { preloadEntriesOnStart: false },
  // MUST: `next dev` logs every request URL; the callback's carries the authorization code and
  // the state. Production (`next start`) logs no requests.
  logging: { incomingRequests: { ignore: [/^\/auth\/callback(?:[/?#]|$)/] } },
  // Loaded from node_modules at run time rather than bundled: instrumentation.ts and the route
  // handlers are separate bundles, and objects they share through lib/process-slot.ts (the
  // openid-client Configuration, jose key sets) must come from one copy of each library, or
  // openid-client's `instanceof Configuration` checks fail. oidc-provider is the separate
  // provider process and never belongs in the app's bundle. node-forge (PKCS#12 only) is loaded
  // on first use, once per process, rather than copied into every route's bundle.
  serverExternalPackages: [
    'openid-client',
    'oauth4webapi',
    'jose',
    'iron-session',
    'oidc-provider',
    'node-forge',
    // The session store's client: one connection per process, shared by every bundle.
    'ioredis',
  ],
  // Security headers of every response; the per-request Content-Security-Policy (and HSTS from
  // the run-time APP_URL) is set in proxy.ts (lib/security-headers.ts).
  async headers() {
    return [
      {
        source: '/:path*',
        headers: [
          { key: 'X-Content-Type-Options', value: 'nosniff' },
          // Full URLs only within the app; never to another origin. (Not `no-referrer`: browsers
          // then send `Origin: null` on the sign-out POST, which the app must refuse.)
          { key: 'Referrer-Policy', value: 'same-origin' },
          // For browsers without CSP frame-ancestors.
          { key: 'X-Frame-Options', value: 'DENY' },
          { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
          // HSTS on every response, static files included, when the build knows APP_URL is
          // https (lib/security-headers.ts STRICT_TRANSPORT_SECURITY; proxy.ts also sets it
          // from the run-time APP_URL on everything but static files).
          ...(isHttpsAppUrl()
            ? [{ key: 'strict-transport-security', value: 'max-age=31536000' }]
            : []),
        ],
      },
      {
        // The callback URL carries the authorization code: no Referer from it, ever.
        source: '/auth/callback',
        headers: [{ key: 'Referrer-Policy', value: 'no-referrer' }],
      },
    ];
  },
};

export default nextConfig;
