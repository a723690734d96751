import { randomBytes } from 'node:crypto';

import nextEnv from '@next/env';

import { getConfig } from '../lib/config';
import { runDoctor, type DoctorReport, type Finding, type ProbeRecord } from '../lib/doctor';
import { ConfigError } from '../lib/errors';
import { describeError } from '../lib/log';
import { handleCliArgs } from './cli-args';

/**
 * `npm run doctor [-- --json]` — checks this app's set-up against the configured provider without
 * a user (settings, key, discovery, the app's JWKS, the authorization endpoint), proves client
 * authentication at the token endpoint, and when the provider refuses the assertion finds the
 * settings it accepts (lib/doctor.ts). Reads the same variables (and `.env.local`) as the app.
 *
 * Exit code: 0 client authentication proven with the current settings; 1 refused or not proven;
 * 2 configuration error. `--json` prints the same findings as one JSON document on stdout.
 */

handleCliArgs(process.argv.slice(2), {
  usage: [
    'npm run doctor -- [--json]',
    '',
    "Checks this app's settings against the configured provider (OIDC_ISSUER, OIDC_CLIENT_ID,",
    'OIDC_CLIENT_KEY_FILE, …; .env.local is read) without a user, proves client authentication at',
    'its token endpoint, and when the provider refuses the assertion finds the settings it accepts.',
    '',
    '  --json   the same findings as one JSON document on stdout',
    '',
    'Exit code: 0 proven with the current settings, 1 refused or not proven, 2 configuration error.',
  ].join('\n'),
  switches: ['--json'],
});

nextEnv.loadEnvConfig(process.cwd(), process.env.NODE_ENV !== 'production');
// The doctor seals no cookies: a throwaway secret satisfies the configuration check, instead of
// creating (or requiring) the app's session secret.
process.env.SESSION_SECRET ||= randomBytes(32).toString('base64url');

const json = process.argv.includes('--json');
const MARK: Record<Finding['level'], string> = {
  ok: 'ok  ',
  warn: 'warn',
  fail: 'FAIL',
  info: 'info',
};

let section = '';
function printFinding(finding: Finding): void {
  if (finding.section !== section) {
    section = finding.section;
    console.log(`\n${section}`);
  }
  console.log(`  ${MARK[finding.level]}  ${finding.message}`);
  for (const line of finding.lines ?? []) console.log(`        ${line}`);
}

function printProbe(probe: ProbeRecord): void {
  if (section !== 'Client authentication') {
    section = 'Client authentication';
    console.log(`\n${section}`);
  }
  const verdict =
    probe.verdict === 'authenticated'
      ? 'passed client authentication'
      : probe.verdict === 'refused'
        ? 'refused'
        : probe.verdict === 'no_answer'
          ? 'no answer'
          : 'says nothing about client authentication';
  console.log(`  probe ${probe.purpose}${probe.shape ? `: ${probe.shape}` : ''} (${probe.grant})`);
  if (probe.sent) {
    console.log(`        sent header ${JSON.stringify(probe.sent.header)}`);
    console.log(`             claims ${JSON.stringify(probe.sent.payload)}`);
  }
  console.log(`        answer ${probe.answered} (${probe.ms} ms) → ${verdict}`);
}

function printSummary(report: DoctorReport): void {
  console.log(`\n${report.summary}`);
  if (report.accepted && report.verdict !== 'proven') {
    console.log('\nSettings to use:');
    for (const line of report.accepted.env) console.log(`  ${line}`);
    for (const name of report.accepted.unset) console.log(`  (unset ${name})`);
    for (const text of report.accepted.unsupported) console.log(`  note: ${text}`);
  }
  if (report.weakenings.length > 0)
    console.log(
      `\n${report.weakenings.length} setting(s) weaken client authentication (see Security).`,
    );
}

async function main(): Promise<number> {
  let settings;
  try {
    settings = getConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (json) {
      console.log(
        JSON.stringify(
          { verdict: 'config_error', exitCode: 2, summary: err.message, problems: err.problems },
          null,
          2,
        ),
      );
    } else console.log(`\n${err.message}`);
    return 2;
  }
  const report = await runDoctor(
    settings,
    json ? {} : { onFinding: printFinding, onProbe: printProbe },
  );
  if (json) console.log(JSON.stringify(report, null, 2));
  else printSummary(report);
  return report.exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`doctor: ${describeError(err)}`);
    process.exit(1);
  },
);
