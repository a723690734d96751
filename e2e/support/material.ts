import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { randomBytes } from 'node:crypto';

import { generatePrivateJwk, writeKeySet } from '../../keys/cli';

/** Key material for one test run, under .e2e/ (git-ignored), never the developer's own keys. */

export const MATERIAL_DIR = resolve('.e2e');
export const RS256_KEY = join(MATERIAL_DIR, 'rs256.private.jwks.json');
export const RS256_PUBLIC = join(MATERIAL_DIR, 'rs256.public.jwks.json');
export const SESSION_SECRET_FILE = join(MATERIAL_DIR, 'session-secret');

export async function prepareKeyMaterial(): Promise<void> {
  mkdirSync(MATERIAL_DIR, { recursive: true });
  await writeKeySet([await generatePrivateJwk('RS256')], RS256_KEY, RS256_PUBLIC);
  writeFileSync(SESSION_SECRET_FILE, randomBytes(32).toString('base64url'), { mode: 0o600 });
}
