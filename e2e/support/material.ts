import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { createSelfSignedCertificate } from '../../keys/certificate';
import { generatePrivateJwk, writeKeySet } from '../../keys/cli';
import { exportPkcs12 } from './pkcs12';

/** Key material for one test run, under .e2e/ (git-ignored), never the developer's own keys. */

export const MATERIAL_DIR = resolve('.e2e');
export const RS256_KEY = join(MATERIAL_DIR, 'rs256.private.jwks.json');
export const RS256_PUBLIC = join(MATERIAL_DIR, 'rs256.public.jwks.json');
export const SESSION_SECRET_FILE = join(MATERIAL_DIR, 'session-secret');
/** The key set the rotation test rotates with the key tool. */
export const ROTATION_KEY = join(MATERIAL_DIR, 'rotation.private.jwks.json');
/** An EC P-256 key as SEC1 PEM (`EC PRIVATE KEY`). */
export const ES256_KEY = join(MATERIAL_DIR, 'es256.sec1.pem');
/** An RSA key and its certificate in a legacy PKCS#12 (3DES, SHA-1 MAC), like the article's idsrv3test.pfx. */
export const CERTIFIED_PFX = join(MATERIAL_DIR, 'certified-client.pfx');
export const CERTIFIED_PFX_PASSPHRASE = 'idsrv3test';
/** That certificate alone, as a provider registers it. */
export const CERTIFIED_CERT = join(MATERIAL_DIR, 'certified-client.cert.pem');

export async function prepareKeyMaterial(): Promise<void> {
  mkdirSync(MATERIAL_DIR, { recursive: true });
  await writeKeySet([await generatePrivateJwk('RS256')], RS256_KEY, RS256_PUBLIC);
  await writeKeySet([await generatePrivateJwk('RS256')], ROTATION_KEY);
  writeFileSync(
    ES256_KEY,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'sec1',
      format: 'pem',
    }),
    { mode: 0o600 },
  );
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const certificate = await createSelfSignedCertificate(rsa, {
    commonName: 'e2e certified client',
  });
  writeFileSync(
    CERTIFIED_PFX,
    await exportPkcs12(rsa, [certificate], CERTIFIED_PFX_PASSPHRASE, 'legacy'),
    { mode: 0o600 },
  );
  writeFileSync(CERTIFIED_CERT, certificate.toString());
  writeFileSync(SESSION_SECRET_FILE, randomBytes(32).toString('base64url'), { mode: 0o600 });
}
