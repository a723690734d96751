import { Auth0Client } from '@auth0/nextjs-auth0/server';

/**
 * The peer as a Next.js user would set it up from the SDK's README, with private_key_jwt
 * (`clientAssertionSigningKey`, a PKCS#8 PEM) instead of a client secret. Settings come from the
 * benchmark (bench/stack.ts); `allowInsecureRequests` because the provider is on plain-http
 * loopback, and the authorization request of the app under test: its scope and the API's `resource`
 * (RFC 8707), set by the benchmark, so that the provider issues the same grant (the SDK's default
 * scope adds offline_access).
 */
export const auth0 = new Auth0Client({
  domain: process.env.BENCH_PEER_DOMAIN,
  clientId: process.env.BENCH_PEER_CLIENT_ID,
  clientAssertionSigningKey: process.env.BENCH_PEER_PRIVATE_KEY,
  clientAssertionSigningAlg: 'RS256',
  appBaseUrl: process.env.BENCH_PEER_APP_URL,
  secret: process.env.BENCH_PEER_SECRET,
  allowInsecureRequests: true,
  authorizationParameters: {
    scope: process.env.BENCH_PEER_SCOPE,
    resource: process.env.BENCH_PEER_RESOURCE,
  },
});
