import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { RS256_KEY } from './material';

/**
 * Proof that the app's logs hold no secret: every secret a suite knows of (tokens, codes and
 * client assertions the provider issued or received, the client's private key, the session
 * secret) is searched for in the app's captured output, whole and in its distinctive parts.
 */

export type Secret = { readonly label: string; readonly value: string };

/** Parts of a secret that must not appear either: a JWT's payload and signature; a PEM's body lines. */
function splitIntoFragments(secret: Secret): Secret[] {
  const parts: Secret[] = [secret];
  const segments = secret.value.split('.');
  if (segments.length === 3) {
    if ((segments[1] ?? '').length >= 16)
      parts.push({ label: `${secret.label} (payload)`, value: segments[1] ?? '' });
    if ((segments[2] ?? '').length >= 16)
      parts.push({ label: `${secret.label} (signature)`, value: segments[2] ?? '' });
  }
  return parts;
}

/** The client's private key file as secrets: each private JWK member and each PKCS#8 PEM body line. */
export function readPrivateKeySecrets(keyFile: string): Secret[] {
  const { keys } = JSON.parse(readFileSync(keyFile, 'utf8')) as {
    keys: Array<JsonWebKey & { kid?: string }>;
  };
  const secrets: Secret[] = [];
  for (const jwk of keys) {
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
      const value = jwk[member];
      if (typeof value === 'string') secrets.push({ label: `client private key ${member}`, value });
    }
    const pem = createPrivateKey({ key: jwk, format: 'jwk' })
      .export({ type: 'pkcs8', format: 'pem' })
      .toString();
    for (const line of pem.split('\n')) {
      if (line.length >= 48 && !line.startsWith('-----'))
        secrets.push({ label: 'client private key (PEM line)', value: line });
    }
  }
  return secrets;
}

/** Every secret (or part of one) found in `lines`, with the first line it appears on. */
export function findLeaks(lines: readonly string[], secrets: readonly Secret[]): string[] {
  const text = lines.join('\n');
  const leaks: string[] = [];
  for (const secret of secrets.flatMap(splitIntoFragments)) {
    if (secret.value.length < 12) continue;
    const at = text.indexOf(secret.value);
    if (at >= 0) {
      const line = lines.find((l) => l.includes(secret.value)) ?? '';
      leaks.push(`${secret.label} in: ${line.slice(0, 160)}`);
    }
  }
  return leaks;
}

/**
 * Everything a test run must never find in the app's log: what the provider issued or received
 * (`issued`), the run's client private key and the session secret.
 */
export function listRunSecrets(issued: readonly string[], sessionSecret: string): Secret[] {
  return [
    ...issued.map((value) => ({ label: 'token, code or assertion', value })),
    ...readPrivateKeySecrets(RS256_KEY),
    { label: 'session secret', value: sessionSecret },
  ];
}
