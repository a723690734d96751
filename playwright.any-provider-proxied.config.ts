import { defineConfig } from '@playwright/test';

import anyProvider from './playwright.any-provider.config';

/**
 * The repository's own run of `npm run test:provider` behind a TLS-terminating proxy
 * (scripts/test-provider-bundled.ts): APP_URL is https://rp.test:<port>, a name Chromium resolves
 * to the proxy on loopback, whose certificate is self-signed for the run. An integrator's run
 * needs none of this: their APP_URL resolves and carries a certificate the browser trusts.
 */
export default defineConfig({
  ...anyProvider,
  use: {
    ...anyProvider.use,
    launchOptions: {
      ...anyProvider.use?.launchOptions,
      args: [
        ...(anyProvider.use?.launchOptions?.args ?? []),
        '--host-resolver-rules=MAP rp.test 127.0.0.1',
        '--ignore-certificate-errors',
      ],
    },
  },
});
