import { defineConfig } from '@playwright/test';

import base from './playwright.config';

/**
 * `npm run test:provider`: the browser tests that apply to any provider (e2e/any-provider/),
 * against the provider the usual OIDC_* variables name, signing in as E2E_USERNAME /
 * E2E_PASSWORD through its own login pages (e2e/support/login-driver.ts). The app is built and
 * started by the tests, as in the main suite.
 */
export default defineConfig({
  ...base,
  testDir: 'e2e/any-provider',
  testIgnore: [],
  timeout: 90_000,
});
