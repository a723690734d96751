/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Loaded from node_modules at run time rather than bundled: instrumentation.ts and the route
  // handlers are separate bundles, and objects they share through lib/process-slot.ts (the
  // openid-client Configuration, jose key sets) must come from one copy of each library, or
  // openid-client's `instanceof Configuration` checks fail. oidc-provider is the separate
  // provider process and never belongs in the app's bundle.
  serverExternalPackages: ['openid-client', 'oauth4webapi', 'jose', 'iron-session', 'oidc-provider'],
};

export default nextConfig;
