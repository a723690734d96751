import { existsSync } from 'node:fs';

import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests: real Chromium against the production build of the app and the bundled
 * provider, both started by the tests themselves (e2e/support/stack.ts) on loopback ports.
 *
 * Chromium: PLAYWRIGHT_CHROMIUM_EXECUTABLE, else Debian's chromium, else Playwright's own.
 */
const chromium = [
  process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE,
  '/usr/lib/chromium/chromium',
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
].find((path): path is string => typeof path === 'string' && path.length > 0 && existsSync(path));

export default defineConfig({
  testDir: 'e2e',
  // The suite for any provider runs with its own configuration (npm run test:provider).
  testIgnore: ['any-provider/**'],
  globalSetup: './e2e/global-setup.ts',
  // Spec files run side by side on three workers (each file’s tests in order, on stacks and ports
  // of its own: e2e/fixtures.ts, e2e/support/stack.ts); E2E_WORKERS=1 runs them one by one.
  fullyParallel: false,
  workers: Number(process.env.E2E_WORKERS ?? 3),
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    trace: 'retain-on-failure',
    launchOptions: {
      ...(chromium ? { executablePath: chromium } : {}),
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
});
