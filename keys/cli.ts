import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

import type { ClientAuthAlg } from '../lib/algorithms';
import { DEFAULTS } from '../lib/config';
import { loadClientKeySet } from '../lib/keys';

/**
 * `npm run keys` — the client's key tool.
 *
 *   npm run keys                       generate the development key if missing, then show it
 *   npm run keys -- generate [--force] a new development key pair (RS256, RSA 2048)
 *   npm run keys -- show               kids, algorithms, the JWKS to register at a provider
 *
 * The private key goes to keys/dev-client.private.jwks.json (owner-only, git-ignored), the public
 * JWKS to keys/dev-client.public.jwks.json (what a provider registers inline).
 */

export const PRIVATE_FILE = resolve(DEFAULTS.devKeyFile);
export const PUBLIC_FILE = resolve('keys/dev-client.public.jwks.json');

function writeAtomically(file: string, content: string, mode: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode });
  renameSync(temp, file);
}

/** A new private JWK with `kid` (RFC 7638 thumbprint), `alg` and `use`. */
export async function generatePrivateJwk(alg: ClientAuthAlg = 'RS256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk, 'sha256'), alg, use: 'sig' };
}

/** Writes the private key set and its public counterpart. */
export async function writeKeySet(keys: JWK[], privateFile = PRIVATE_FILE, publicFile = PUBLIC_FILE): Promise<void> {
  // MUST: the private key is readable by its owner only.
  writeAtomically(privateFile, `${JSON.stringify({ keys }, null, 2)}\n`, 0o600);
  const { published } = await loadClientKeySet(privateFile);
  writeAtomically(publicFile, `${JSON.stringify({ keys: published }, null, 2)}\n`, 0o644);
}

/** Generates the development key when there is none. Returns true when it did. */
export async function ensureDevKey(): Promise<boolean> {
  if (existsSync(PRIVATE_FILE)) return false;
  await writeKeySet([await generatePrivateJwk('RS256')]);
  return true;
}

async function show(file = PRIVATE_FILE): Promise<void> {
  const set = await loadClientKeySet(file);
  console.log(`Key file: ${relative(process.cwd(), file)}`);
  for (const jwk of set.published) {
    console.log(`  ${jwk.kid === set.signing.kid ? 'signs    ' : 'published'}  kid=${jwk.kid}  alg=${jwk.alg}  kty=${jwk.kty}`);
  }
  console.log('\nPublic JWKS to register at a provider (or point it at APP_URL/.well-known/jwks.json):');
  console.log(JSON.stringify({ keys: set.published }, null, 2));
}

async function main(args: string[]): Promise<void> {
  const [command = 'default', ...rest] = args;
  switch (command) {
    case 'default':
      if (await ensureDevKey()) console.log(`Generated a development key pair in ${relative(process.cwd(), PRIVATE_FILE)}.\n`);
      await show();
      return;
    case 'generate':
      if (existsSync(PRIVATE_FILE) && !rest.includes('--force')) {
        throw new Error(`${relative(process.cwd(), PRIVATE_FILE)} exists; pass --force to replace it (providers that cached the old key will reject the new one until they refetch)`);
      }
      await writeKeySet([await generatePrivateJwk('RS256')]);
      console.log('Generated a new development key pair.\n');
      await show();
      return;
    case 'show':
      await show();
      return;
    default:
      throw new Error(`unknown command "${command}" (use generate or show)`);
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isMain) {
  main(process.argv.slice(2)).catch((err: Error) => {
    console.error(`keys: ${err.message}`);
    process.exit(1);
  });
}
