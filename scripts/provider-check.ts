import { randomBytes } from 'node:crypto';

import nextEnv from '@next/env';

import { getConfig } from '../lib/config';
import { ConfigError } from '../lib/errors';
import { describeError } from '../lib/log';
import { runProviderCheck, type CaseResult } from '../lib/provider-check';
import { handleCliArgs } from './cli-args';

/**
 * `npm run provider-check [-- --rfc10070] [--grant client_credentials] [--json]` — does the
 * configured provider verify client assertions safely? Sends the valid assertion and the bad ones
 * (lib/provider-check.ts) to its token endpoint and prints, for each, PASS (refused as it must
 * be), FAIL (accepted) or SKIP (not applicable, with why), what was sent and what came back, and
 * the summary line `N passed, M failed` (`, K skipped`). Configured like the app (OIDC_ISSUER,
 * OIDC_CLIENT_ID, OIDC_CLIENT_KEY_FILE, …; `.env.local` is read).
 *
 * Exit code: 0 every bad assertion refused; 1 a bad assertion was accepted; 2 nothing could be
 * judged (the valid assertion was refused, or a configuration error).
 */

handleCliArgs(process.argv.slice(2), {
  usage: [
    'npm run provider-check -- [--rfc10070] [--grant client_credentials] [--json]',
    '',
    'Does the configured provider verify client assertions safely? Sends the valid assertion and',
    'bad ones to its token endpoint: PASS (refused), FAIL (accepted) or SKIP, and `N passed, M failed`.',
    '',
    '  --rfc10070                   also the token endpoint as audience (the provider claims RFC 10070)',
    '  --grant client_credentials   judge by real token requests instead of a made-up code',
    '  --json                       the report as one JSON document on stdout',
    '',
    'Exit code: 0 every bad assertion refused, 1 a bad assertion accepted, 2 nothing could be judged.',
  ].join('\n'),
  switches: ['--rfc10070', '--json'],
  valueOptions: ['--grant'],
});

nextEnv.loadEnvConfig(process.cwd(), process.env.NODE_ENV !== 'production');
process.env.SESSION_SECRET ||= randomBytes(32).toString('base64url');

const args = process.argv.slice(2);
const json = args.includes('--json');
const rfc10070 = args.includes('--rfc10070');
const grantIndex = args.indexOf('--grant');
const grantArg = grantIndex >= 0 ? args[grantIndex + 1] : undefined;

function printResult(result: CaseResult): void {
  console.log(
    `${result.status.padEnd(4)}  ${result.title}${result.reason ? ` — ${result.reason}` : ''}`,
  );
  console.log(`      rule    ${result.rule}`);
  if (result.sent) {
    console.log(`      sent    header ${JSON.stringify(result.sent.header)}`);
    console.log(`              claims ${JSON.stringify(result.sent.payload)}`);
  }
  if (result.parameters?.includes('client_secret'))
    console.log('              + client_secret in the body');
  if (result.answered) console.log(`      answer  ${result.answered} (${result.ms} ms)`);
}

async function main(): Promise<number> {
  if (
    grantArg !== undefined &&
    grantArg !== 'client_credentials' &&
    grantArg !== 'authorization_code'
  ) {
    console.error('--grant takes authorization_code (the default) or client_credentials');
    return 2;
  }
  let settings;
  try {
    settings = getConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`\n${err.message}`);
    return 2;
  }
  if (!json) {
    console.log(
      `Provider check: does ${settings.issuer} verify client assertions safely? (client ${settings.clientId})\n`,
    );
  }
  const report = await runProviderCheck(settings, {
    rfc10070,
    grant: grantArg === 'client_credentials' ? 'client_credentials' : 'authorization_code',
    onResult: json ? undefined : printResult,
  });
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return report.exitCode;
  }
  for (const warning of report.warnings) console.log(`\nwarning: ${warning}`);
  console.log(`\n${report.summary}`);
  return report.exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) console.error(`\n${err.message}`);
    else console.error(`provider-check: ${describeError(err)}`);
    process.exit(2);
  },
);
