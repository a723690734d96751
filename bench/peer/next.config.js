import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  poweredByHeader: false,
  // This folder is its own project: not the app's workspace above it.
  turbopack: { root: here },
  outputFileTracingRoot: here,
};

export default nextConfig;
