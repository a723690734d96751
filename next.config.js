/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The bundled provider is a separate process; nothing of it belongs in the app's bundle.
  serverExternalPackages: ['oidc-provider'],
};

export default nextConfig;
