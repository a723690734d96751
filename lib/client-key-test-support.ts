import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A client key for the tests that run a sign-in against a test provider: a new P-256 key as a
 * PKCS#8 PEM file (mode 0600, as the app expects a private key file), in a new temporary folder
 * named after `prefix` unless `dir` is given. Test code only.
 *
 * @returns the file's path, for OIDC_CLIENT_KEY_FILE.
 */
export function writeClientKeyFile(prefix: string, dir?: string): string {
  const file = join(dir ?? mkdtempSync(join(tmpdir(), prefix)), 'client.pem');
  writeFileSync(
    file,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }),
    { mode: 0o600 },
  );
  return file;
}
