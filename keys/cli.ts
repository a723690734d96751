import { createPrivateKey, X509Certificate, type JsonWebKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

import nextEnv from '@next/env';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

import {
  CLIENT_AUTH_ALGS,
  isClientAuthAlg,
  isEd25519Alg,
  type ClientAuthAlg,
} from '../lib/algorithms';
import {
  DEFAULTS,
  MAX_ASSERTION_LIFETIME_SECONDS,
  parseClientJwksMaxAge,
  type Env,
} from '../lib/config';
import { parseKeyFile } from '../lib/key-file';
import { loadClientKeySet, type ClientKeySet } from '../lib/keys';
import { wantsHelp } from '../scripts/cli-args';
import { createSelfSignedCertificate } from './certificate';
import {
  earliestPromotion,
  earliestRetirement,
  promote,
  publishBeforeSigningSeconds,
  retire,
  rotateIn,
  RotationError,
  type PrivateJwk,
  type PrivateKeySet,
} from './rotation';

/**
 * `npm run keys` — the client's key tool.
 *
 *   npm run keys                                  generate the development key if missing, then show it
 *   npm run keys -- generate [--alg A] [--cert]   a new key set with one key (replaces with --force)
 *   npm run keys -- rotate [--alg A] [--cert]     add the next key: published now, not signing yet
 *   npm run keys -- promote [--force]             the next key signs; the old one stays published
 *   npm run keys -- retire [--force]              remove the old key(s)
 *   npm run keys -- show                          kids, algorithms, thumbprints, JWKS and certificate
 *   npm run keys -- import <file>                 a PEM, PKCS#12, DER or JWK key as a private JWKS file
 *
 * Options: --file <private JWKS> (default OIDC_CLIENT_KEY_FILE, else keys/dev-client.private.jwks.json),
 * --alg RS256|PS256|ES256|EdDSA|Ed25519 (default RS256), --cert (a self-signed certificate,
 * for providers that register certificates), --days <n> (certificate validity: default 365, and for
 * `rotate` that of the signing key's certificate),
 * --kid <kid> (promote that key). `show` also reads OIDC_CLIENT_KEY_PASSPHRASE and
 * OIDC_CLIENT_CERT_FILE (or --cert-file) for PEM and PKCS#12 files.
 *
 * Beside a private JWKS file `<name>.private.jwks.json` the tool keeps `<name>.public.jwks.json`
 * (what a provider registers inline) and, when keys have certificates, `<name>.cert.pem`.
 */

export const PRIVATE_FILE = resolve(DEFAULTS.devKeyFile);

/** `<name>` of `<name>.private.jwks.json` (or of any other file name, minus `.json`). */
function baseOf(privateFile: string): string {
  return privateFile.replace(/(\.private)?(\.jwks)?\.json$/, '');
}

export function publicFileFor(privateFile: string): string {
  return `${baseOf(privateFile)}.public.jwks.json`;
}

export function certificateFileFor(privateFile: string): string {
  return `${baseOf(privateFile)}.cert.pem`;
}

export const PUBLIC_FILE = publicFileFor(PRIVATE_FILE);

function writeAtomically(file: string, content: string, mode: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode });
  renameSync(temp, file);
}

export type GenerateOptions = {
  /** Adds a self-signed certificate (`x5c`). */
  readonly certificate?: boolean;
  readonly days?: number;
  readonly commonName?: string;
};

/** A new private JWK with `kid` (RFC 7638 thumbprint), `alg`, `use` and, on request, `x5c`. */
export async function generatePrivateJwk(
  alg: ClientAuthAlg = 'RS256',
  options: GenerateOptions = {},
): Promise<PrivateJwk> {
  const generationAlg = isEd25519Alg(alg) ? 'Ed25519' : alg;
  const { privateKey } = await generateKeyPair(generationAlg, {
    extractable: true,
    ...(alg === 'RS256' || alg === 'PS256' ? { modulusLength: 2048 } : {}),
  });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  const base: PrivateJwk = { ...jwk, kid, alg, use: 'sig' };
  if (!options.certificate) return base;
  const certificate = await createSelfSignedCertificate(
    createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }),
    {
      commonName: options.commonName ?? `private_key_jwt client ${kid.slice(0, 8)}`,
      days: options.days,
    },
  );
  return { ...base, x5c: [certificate.raw.toString('base64')] };
}

function pemOf(der: string): string {
  return new X509Certificate(Buffer.from(der, 'base64')).toString().trim();
}

/** Writes the private key set and its public counterparts (JWKS, certificates). */
export async function writeKeySet(
  keys: readonly JWK[],
  privateFile = PRIVATE_FILE,
  publicFile = publicFileFor(privateFile),
): Promise<ClientKeySet> {
  // MUST: the private key is readable by its owner only.
  writeAtomically(privateFile, `${JSON.stringify({ keys }, null, 2)}\n`, 0o600);
  const set = await loadClientKeySet(privateFile);
  writeAtomically(publicFile, `${JSON.stringify({ keys: set.published }, null, 2)}\n`, 0o644);
  const certificates = keys.flatMap((k) => (k.x5c?.[0] ? [pemOf(k.x5c[0])] : []));
  if (certificates.length > 0)
    writeAtomically(certificateFileFor(privateFile), `${certificates.join('\n')}\n`, 0o644);
  return set;
}

/** Generates the development key when there is none. Returns true when it did. */
export async function ensureDevKey(): Promise<boolean> {
  if (existsSync(PRIVATE_FILE)) return false;
  await writeKeySet([await generatePrivateJwk('RS256')]);
  return true;
}

/** Reads a private JWKS file for rotation. */
export function readPrivateKeySet(file: string): PrivateKeySet {
  const text = readFileSync(file, 'utf8');
  let json: { keys?: unknown } | undefined;
  try {
    json = JSON.parse(text) as { keys?: unknown };
  } catch {
    json = undefined;
  }
  if (!json || !Array.isArray(json.keys)) {
    throw new RotationError(
      `${relative(process.cwd(), file)} is not a private JWK Set. Rotation keeps ` +
        `several keys in one file, which only a JWKS file can: ` +
        `convert it with \`npm run keys -- import ${relative(process.cwd(), file)} ` +
        `--file <new>.private.jwks.json\` and point OIDC_CLIENT_KEY_FILE at the new ` +
        `file.`,
    );
  }
  return { keys: json.keys as PrivateJwk[] };
}

function describeKeyType(jwk: JWK): string {
  if (jwk.kty === 'RSA' && jwk.n) return `RSA ${Buffer.from(jwk.n, 'base64url').length * 8}`;
  return `${jwk.kty} ${jwk.crv ?? ''}`.trim();
}

function roleOf(set: ClientKeySet, index: number): string {
  if (index === 0) return 'SIGNS';
  return set.keys[index]?.status ?? 'published';
}

/** The state of a key set: what signs, what is published, thumbprints, certificates. */
export function describeKeySet(set: ClientKeySet, file: string): string {
  const lines = [`Key file: ${relative(process.cwd(), file) || file} (${set.format})`];
  set.keys.forEach((key, index) => {
    const parts = [
      `  ${roleOf(set, index).padEnd(9)}`,
      `kid=${key.kid}`,
      `alg=${key.publicJwk.alg ?? `${key.alg} (or Ed25519)`}`,
      describeKeyType(key.publicJwk),
    ];
    lines.push(parts.join('  '));
    const thumbprint = `      JWK thumbprint (RFC 7638): ${key.kid}`;
    lines.push(thumbprint);
    if (key.certificate) {
      const sha1Hex = Buffer.from(key.certificate.x5t, 'base64url').toString('hex').toUpperCase();
      lines.push(
        `      certificate: ${key.certificate.subject.replace(/\n/g, ', ')}, valid ` +
          `${key.certificate.notBefore.toISOString()} – ` +
          `${key.certificate.notAfter.toISOString()}`,
      );
      lines.push(
        `      x5t#S256: ${key.certificate.x5tS256}   x5t: ${key.certificate.x5t}   ` +
          `SHA-1 (hex, as Windows and Entra ID show it): ${sha1Hex}`,
      );
    }
  });
  for (const warning of set.warnings) lines.push(`  WARNING: ${warning}`);
  lines.push('');
  lines.push(
    `Published at APP_URL/.well-known/jwks.json: ${set.published.map((k) => k.kid).join(', ')}`,
  );
  lines.push(`Signs client assertions:                   ${set.signing.kid}`);
  return lines.join('\n');
}

function describeRegistration(set: ClientKeySet): string {
  const lines = [
    '',
    'Public JWKS to register at a provider (or point it at APP_URL/.well-known/jwks.json):',
    JSON.stringify({ keys: set.published }, null, 2),
  ];
  for (const key of set.keys) {
    const [leaf] = key.certificate?.x5c ?? [];
    if (!leaf) continue;
    lines.push(
      '',
      `Certificate of key ${key.kid} (upload to Entra ID; IdentityServer's X509CertificateBase64 is the base64 line):`,
      pemOf(leaf),
      '',
      leaf,
    );
  }
  return lines.join('\n');
}

async function show(file: string, certFile?: string): Promise<void> {
  const set = await loadClientKeySet(file, {
    passphrase: process.env.OIDC_CLIENT_KEY_PASSPHRASE || undefined,
    certFile: certFile ?? (process.env.OIDC_CLIENT_CERT_FILE || undefined),
  });
  console.log(describeKeySet(set, file));
  console.log(describeRegistration(set));
}

type Flags = { positional: string[]; values: Map<string, string>; switches: Set<string> };

const VALUE_FLAGS = new Set(['--alg', '--file', '--days', '--kid', '--cert-file']);
const SWITCHES = ['--cert', '--force'];

/** What `npm run keys -- --help` prints (the README's Keys section says the same). */
const KEY_TOOL_USAGE = [
  'npm run keys                                         # the development key: generate if missing, show',
  'npm run keys -- generate [--alg RS256|PS256|ES256|EdDSA|Ed25519] [--cert] [--days 365] [--force]',
  'npm run keys -- rotate   [--alg …] [--cert] [--days n] # add the next key: published now, not signing',
  'npm run keys -- promote  [--force] [--kid <kid>]     # the next key signs; the old one stays published',
  'npm run keys -- retire   [--force]                   # remove the old key(s) once nothing they signed is valid',
  'npm run keys -- show     [--cert-file <file>]        # kids, algorithms, thumbprints, JWKS, certificate',
  'npm run keys -- import <file> --file <new>.private.jwks.json   # PEM / PFX / DER / JWK → private JWKS',
  '',
  'Every command takes --file <private JWKS> (default: OIDC_CLIENT_KEY_FILE, else',
  'keys/dev-client.private.jwks.json).',
].join('\n');

function parseFlags(args: readonly string[]): Flags {
  const flags: Flags = { positional: [], values: new Map(), switches: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (VALUE_FLAGS.has(arg)) {
      const value = args[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      flags.values.set(arg, value);
    } else if (SWITCHES.includes(arg)) {
      flags.switches.add(arg);
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option "${arg}"`);
    } else {
      flags.positional.push(arg);
    }
  }
  return flags;
}

function algFrom(flags: Flags, fallback: ClientAuthAlg): ClientAuthAlg {
  const alg = flags.values.get('--alg') ?? fallback;
  if (!isClientAuthAlg(alg))
    throw new Error(`--alg ${alg} is not supported (use ${CLIENT_AUTH_ALGS.join(', ')})`);
  return alg;
}

/**
 * How many days the certificate of `key` is valid for, when it has one: a key rotated in gets a
 * certificate as long-lived as the one it will replace (a short-lived profile stays short), unless
 * `--days` says otherwise.
 */
function certificateDays(
  key: { readonly x5c?: readonly string[] } | undefined,
): number | undefined {
  const der = key?.x5c?.[0];
  if (der === undefined) return undefined;
  const certificate = new X509Certificate(Buffer.from(der, 'base64'));
  const days = Math.round(
    (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 86_400_000,
  );
  return Math.min(Math.max(days, 1), 3650);
}

function daysFrom(flags: Flags): number | undefined {
  const raw = flags.values.get('--days');
  if (raw === undefined) return undefined;
  const days = Number(raw);
  if (!Number.isInteger(days) || days < 1 || days > 3650)
    throw new Error('--days must be a whole number from 1 to 3650');
  return days;
}

/**
 * The app's assertion lifetime, which `retire` waits for: OIDC_CLIENT_ASSERTION_LIFETIME as the
 * app reads it (the tool loads .env.local too), 60 s by default.
 */
export function assertionLifetimeFromEnv(env: Env = process.env): number {
  const raw = env.OIDC_CLIENT_ASSERTION_LIFETIME?.trim();
  if (!raw) return DEFAULTS.assertionLifetimeSeconds;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 5 || seconds > MAX_ASSERTION_LIFETIME_SECONDS) {
    throw new Error(
      `OIDC_CLIENT_ASSERTION_LIFETIME "${raw}" is not a whole number from 5 to ${MAX_ASSERTION_LIFETIME_SECONDS}`,
    );
  }
  return seconds;
}

async function commit(set: PrivateKeySet, file: string): Promise<ClientKeySet> {
  return writeKeySet(set.keys, file);
}

/** How long a new key must be published before it signs, from OIDC_CLIENT_JWKS_MAX_AGE. */
function readPublishSeconds(): number {
  return publishBeforeSigningSeconds(parseClientJwksMaxAge(process.env));
}

function rotationAdvice(next: PrivateJwk): string {
  const maxAge = parseClientJwksMaxAge(process.env);
  const earliest = earliestPromotion(next, publishBeforeSigningSeconds(maxAge));
  return [
    '',
    'Next:',
    `  1. The app serves both keys at APP_URL/.well-known/jwks.json within a ` +
      `second (it watches the key file; no restart).`,
    `     Providers that read the jwks_uri see the new key once their cached copy expires: the app sends`,
    `     max-age=${maxAge} (OIDC_CLIENT_JWKS_MAX_AGE), and the bundled provider ` +
      `(oidc-provider) keeps a copy for`,
    `     max(60 s, max-age) even when a kid is unknown ` +
      `(PROVIDER_CLIENT_JWKS_CACHE_FLOOR lowers its 60 s).`,
    ...(maxAge < 60
      ? [
          `     max-age is below 60 s: providers built on oidc-provider still keep their ` +
            `copy 60 s; wait that long for them.`,
        ]
      : []),
    `     Providers with a registered JWKS or certificate: register the new key now (below).`,
    `  2. From ${earliest?.toISOString() ?? 'now'} on: npm run keys -- promote`,
  ].join('\n');
}

/** A command line the key tool does not understand: the usage follows the message. */
class UsageError extends Error {}

/** Runs one command of the key tool (what `npm run keys -- <args>` does). */
export async function runKeyTool(args: readonly string[]): Promise<void> {
  if (wantsHelp(args) || args[0] === 'help') {
    console.log(KEY_TOOL_USAGE);
    return;
  }
  const [command = 'default', ...rest] = args;
  if (command.startsWith('-')) throw new UsageError(`unknown option "${command}"`);
  const flags = parseFlags(rest);
  const file = resolve(
    flags.values.get('--file') ?? (process.env.OIDC_CLIENT_KEY_FILE || PRIVATE_FILE),
  );
  switch (command) {
    case 'default':
      if (await ensureDevKey())
        console.log(
          `Generated a development key pair in ${relative(process.cwd(), PRIVATE_FILE)}.\n`,
        );
      await show(PRIVATE_FILE);
      return;
    case 'generate': {
      if (existsSync(file) && !flags.switches.has('--force')) {
        throw new Error(
          `${relative(process.cwd(), file)} exists; use \`rotate\` to replace a key ` +
            `without downtime, or pass --force to overwrite it (providers that know only ` +
            `the old key will reject the new one)`,
        );
      }
      const key = await generatePrivateJwk(algFrom(flags, 'RS256'), {
        certificate: flags.switches.has('--cert'),
        days: daysFrom(flags),
      });
      const set = await writeKeySet([key], file);
      console.log(
        `Generated key ${key.kid} (${key.alg}${key.x5c ? ', with a self-signed certificate' : ''}).\n`,
      );
      console.log(describeKeySet(set, file));
      console.log(describeRegistration(set));
      return;
    }
    case 'rotate': {
      const current = readPrivateKeySet(file);
      const signing = current.keys[0];
      const fallbackAlg = signing && isClientAuthAlg(signing.alg) ? signing.alg : 'RS256';
      const next = await generatePrivateJwk(algFrom(flags, fallbackAlg), {
        certificate: flags.switches.has('--cert') || Boolean(signing?.x5c),
        days: daysFrom(flags) ?? certificateDays(signing),
      });
      const set = await commit(rotateIn(current, next), file);
      console.log(`Rotated in key ${next.kid} (${next.alg}): published now, not signing yet.\n`);
      console.log(describeKeySet(set, file));
      console.log(
        rotationAdvice(readPrivateKeySet(file).keys.find((k) => k.kid === next.kid) ?? next),
      );
      console.log(describeRegistration(set));
      return;
    }
    case 'promote': {
      // Read before anything changes: a bad setting must not leave a half-reported promotion.
      const lifetimeSeconds = assertionLifetimeFromEnv();
      const {
        set: promotedSet,
        promoted,
        demoted,
      } = promote(readPrivateKeySet(file), {
        kid: flags.values.get('--kid'),
        force: flags.switches.has('--force'),
        publishSeconds: readPublishSeconds(),
      });
      const set = await commit(promotedSet, file);
      console.log(
        `Key ${promoted.kid} signs from the app's next request on (within a second). ` +
          `Key ${demoted.kid} stays published until \`retire\`.\n`,
      );
      console.log(describeKeySet(set, file));
      const retireAt = earliestRetirement(promotedSet, lifetimeSeconds);
      // An older key in the file may carry a time that cannot be read: the promotion is done,
      // and `retire` will name that key.
      const when =
        retireAt === undefined
          ? 'now'
          : Number.isNaN(retireAt.getTime())
            ? undefined
            : retireAt.toISOString();
      console.log(
        when === undefined
          ? `\nNext: another key in the file has no readable rotation time, so \`retire\` ` +
              `cannot tell when it is safe; wait the app's reload, ${lifetimeSeconds} s of ` +
              `assertion lifetime and a margin, then: npm run keys -- retire --force`
          : `\nNext: once no assertion signed by ${demoted.kid} can still be accepted ` +
              `(the app's reload, ${lifetimeSeconds} s of assertion lifetime and a margin), ` +
              `from ${when} on: npm run keys -- retire`,
      );
      return;
    }
    case 'retire': {
      const { set: retiredSet, retired } = retire(readPrivateKeySet(file), {
        lifetimeSeconds: assertionLifetimeFromEnv(),
        force: flags.switches.has('--force'),
      });
      const set = await commit(retiredSet, file);
      console.log(
        `Retired ${retired.map((k) => k.kid).join(', ')}: no longer published. Remove ` +
          `it from any provider where it was registered.\n`,
      );
      console.log(describeKeySet(set, file));
      return;
    }
    case 'show':
      await show(file, flags.values.get('--cert-file'));
      return;
    case 'import': {
      const [source] = flags.positional;
      if (!source)
        throw new Error('usage: npm run keys -- import <key file> --file <new>.private.jwks.json');
      if (!flags.values.has('--file'))
        throw new Error('import needs --file <new>.private.jwks.json (the converted key set)');
      if (existsSync(file) && !flags.switches.has('--force'))
        throw new Error(`${relative(process.cwd(), file)} exists; pass --force to overwrite it`);
      const imported = await loadClientKeySet(resolve(source), {
        passphrase: process.env.OIDC_CLIENT_KEY_PASSPHRASE || undefined,
        certFile:
          flags.values.get('--cert-file') ?? (process.env.OIDC_CLIENT_CERT_FILE || undefined),
      });
      const { entries } = parseKeyFile(
        readFileSync(resolve(source)),
        source,
        process.env.OIDC_CLIENT_KEY_PASSPHRASE || undefined,
      );
      const keys = entries.map((entry, i): PrivateJwk => {
        const key = imported.keys[i];
        if (!key) throw new Error(`key #${i + 1} of ${source} did not load`);
        return {
          ...(entry.key.export({ format: 'jwk' }) as JWK),
          kid: key.kid,
          alg: key.alg,
          use: 'sig',
          ...(key.certificate ? { x5c: [...key.certificate.x5c] } : {}),
        };
      });
      const set = await writeKeySet(keys, file);
      console.log(
        `Imported ${keys.length} key(s) from ${source}. Point OIDC_CLIENT_KEY_FILE at ` +
          `${relative(process.cwd(), file)}.\n`,
      );
      console.log(describeKeySet(set, file));
      return;
    }
    default:
      throw new Error(
        `unknown command "${command}" (use generate, rotate, promote, retire, show or import)`,
      );
  }
}

const isMain =
  process.argv[1] !== undefined &&
  resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isMain) {
  // The same settings as the app (OIDC_CLIENT_KEY_FILE, OIDC_CLIENT_KEY_PASSPHRASE from .env.local).
  nextEnv.loadEnvConfig(process.cwd(), process.env.NODE_ENV !== 'production');
  runKeyTool(process.argv.slice(2)).catch((err: Error) => {
    if (err instanceof UsageError) {
      console.error(`keys: ${err.message}\n\n${KEY_TOOL_USAGE}`);
      process.exit(2);
    }
    console.error(`keys: ${err.message}`);
    process.exit(1);
  });
}
