import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import { chromium } from '@playwright/test';

import { prepareKeyMaterial } from './support/material';

/**
 * Before any browser test: a production build to run, fresh key material for this run, and a
 * browser. Fails with one line saying what to install when there is no Chromium at all.
 */
export default async function globalSetup(): Promise<void> {
  const configured = [
    process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE,
    '/usr/lib/chromium/chromium',
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
  ];
  const found = configured.some((p) => p && existsSync(p)) || existsSync(chromium.executablePath());
  if (!found) {
    throw new Error(
      "No Chromium found: install Debian's chromium (apt-get install -y chromium) or " +
        'set PLAYWRIGHT_CHROMIUM_EXECUTABLE.',
    );
  }
  if (!existsSync('.next/BUILD_ID')) {
    execFileSync(process.execPath, ['node_modules/next/dist/bin/next', 'build'], {
      stdio: 'inherit',
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
    });
  }
  await prepareKeyMaterial();
}
