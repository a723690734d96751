import {
  createPrivateKey,
  type JsonWebKey,
  type KeyObject,
  type X509Certificate,
} from 'node:crypto';

import type { JWK } from 'jose';

import { pemCertificates } from './certificates';
import { ConfigError } from './errors';
import { NotPkcs12Error, Pkcs12PassphraseError, readPkcs12 } from './pkcs12';

/**
 * What a client key file holds, whatever its format. The format is detected from the content,
 * never from the file name, because integrators name files every way:
 *
 * - JSON: a private JWK, or a private JWK Set with several keys (RFC 7517);
 * - PEM: PKCS#8 (`PRIVATE KEY`), encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`), PKCS#1
 *   (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), optionally followed by the key's certificate chain;
 * - binary: a PKCS#12 / PFX bundle, or a DER private key; the same as one line of base64 (how Azure
 *   Key Vault and many secret stores hand out a PFX).
 *
 * Node parses PEM, DER and JWK; node-forge opens PKCS#12 (lib/pkcs12.ts).
 */

export type KeyFileFormat = 'jwk' | 'jwks' | 'pem' | 'der' | 'pkcs12';

/** A key as found in the file. */
export type KeyFileEntry = {
  readonly key: KeyObject;
  /** `kid` and `alg` when the file states them (JWK). */
  readonly kid?: string | undefined;
  readonly alg?: string | undefined;
  /** The key tool's rotation state of a JWK (`next` or `previous`), never published. */
  readonly status?: string | undefined;
  /** Certificates found with the key (PEM bundle, PFX, JWK `x5c`). */
  readonly certificates: readonly X509Certificate[];
};

export type KeyFileContents = {
  readonly format: KeyFileFormat;
  readonly entries: readonly KeyFileEntry[];
};

/** A problem with OIDC_CLIENT_KEY_FILE, naming the file. */
export function keyFileError(file: string, message: string, fix?: string): ConfigError {
  return new ConfigError([
    { variable: 'OIDC_CLIENT_KEY_FILE', message: `${file}: ${message}`, ...(fix ? { fix } : {}) },
  ]);
}

function passphraseError(file: string, missing: boolean): ConfigError {
  return new ConfigError([
    missing
      ? {
          variable: 'OIDC_CLIENT_KEY_PASSPHRASE',
          message: `is required: ${file} is passphrase-protected`,
          fix: 'set OIDC_CLIENT_KEY_PASSPHRASE to the passphrase the key was exported with',
        }
      : {
          variable: 'OIDC_CLIENT_KEY_PASSPHRASE',
          message: `does not open ${file} (wrong passphrase)`,
          fix: 'set the passphrase the key was exported with; `openssl pkcs12 -info -in <file> -noout` checks one',
        },
  ]);
}

function parseJson(text: string, file: string): KeyFileContents {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw keyFileError(file, 'is not valid JSON');
  }
  const set = json as { keys?: unknown };
  const isSet = Array.isArray(set.keys);
  const members = isSet ? (set.keys as unknown[]) : [json];
  if (members.length === 0) throw keyFileError(file, 'holds an empty JWKS');
  const entries = members.map((member, index): KeyFileEntry => {
    const jwk = member as JWK & { rotation?: { state?: unknown } };
    if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
      throw keyFileError(
        file,
        `key #${index + 1} is not a private JWK (no "d" member)`,
        'use the private key file, not the public one',
      );
    }
    // MUST: `kid` is a string (RFC 7517 §4.5) and names the key in every assertion header; a
    // hand-edited number or empty value would be published and sent as it is.
    const kid: unknown = jwk.kid;
    if (kid !== undefined && (typeof kid !== 'string' || kid === '')) {
      throw keyFileError(
        file,
        `key #${index + 1} has a kid that is not a non-empty string (${JSON.stringify(kid)})`,
        'give it a string kid, or remove kid to use the RFC 7638 thumbprint',
      );
    }
    // MUST: a key declared for something else (an encryption key kept in the same set) is not
    // signed with nor published as `use: sig`; RFC 7517 §4.3 requires use and key_ops to agree.
    const { use, key_ops: keyOps } = jwk as { use?: unknown; key_ops?: unknown };
    const notForSigning =
      use !== undefined && use !== 'sig'
        ? { use }
        : keyOps !== undefined && (!Array.isArray(keyOps) || !keyOps.includes('sign'))
          ? { key_ops: keyOps }
          : undefined;
    if (notForSigning) {
      throw keyFileError(
        file,
        `key #${index + 1} is declared for ${JSON.stringify(notForSigning)}, not for signing`,
        'point OIDC_CLIENT_KEY_FILE at signing keys only (use "sig", or key_ops with "sign"); ' +
          'this client authenticates with a signature and publishes every key of the file for it',
      );
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch (cause) {
      throw keyFileError(
        file,
        `key #${index + 1} is not a usable private JWK (${(cause as Error).message})`,
      );
    }
    let certificates: X509Certificate[] = [];
    if (jwk.x5c !== undefined) {
      try {
        certificates = pemCertificates(
          jwk.x5c
            .map((der) => `-----BEGIN CERTIFICATE-----\n${der}\n-----END CERTIFICATE-----`)
            .join('\n'),
        );
      } catch (cause) {
        throw keyFileError(
          file,
          `key #${index + 1} has an unreadable x5c certificate (${(cause as Error).message})`,
        );
      }
    }
    const state = jwk.rotation?.state;
    return {
      key,
      kid: jwk.kid,
      alg: jwk.alg,
      status: typeof state === 'string' ? state : undefined,
      certificates,
    };
  });
  return { format: isSet ? 'jwks' : 'jwk', entries };
}

const PRIVATE_KEY_BLOCK =
  /-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/g;

function parsePem(text: string, file: string, passphrase: string | undefined): KeyFileContents {
  // Keys pasted from JSON or an environment variable often arrive with literal "\n" sequences.
  const normalized =
    text.includes('\\n') && !/-----\r?\n/.test(text) ? text.replace(/(?:\\r)?\\n/g, '\n') : text;
  const blocks = normalized.match(PRIVATE_KEY_BLOCK) ?? [];
  if (blocks.length === 0) {
    if (/-----BEGIN (PUBLIC KEY|CERTIFICATE|RSA PUBLIC KEY)-----/.test(normalized)) {
      throw keyFileError(
        file,
        'holds a public key or certificate, not a private key',
        'point OIDC_CLIENT_KEY_FILE at the private key (the certificate goes in OIDC_CLIENT_CERT_FILE)',
      );
    }
    throw keyFileError(file, 'holds no PEM private key');
  }
  if (blocks.length > 1) {
    throw keyFileError(
      file,
      `holds ${blocks.length} private keys`,
      'keep one PEM key per file, or use a JWKS file to hold several keys',
    );
  }
  const [block = ''] = blocks;
  const encrypted =
    block.startsWith('-----BEGIN ENCRYPTED') || /Proc-Type:\s*4,ENCRYPTED/.test(block);
  if (encrypted && passphrase === undefined) throw passphraseError(file, true);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: block, format: 'pem', ...(encrypted ? { passphrase } : {}) });
  } catch (cause) {
    if (encrypted) throw passphraseError(file, false);
    throw keyFileError(file, `is not a readable PEM private key (${(cause as Error).message})`);
  }
  let certificates: X509Certificate[];
  try {
    certificates = pemCertificates(normalized);
  } catch (cause) {
    throw keyFileError(file, `holds an unreadable certificate (${(cause as Error).message})`);
  }
  return { format: 'pem', entries: [{ key, certificates }] };
}

function parseDerKey(
  der: Buffer,
  file: string,
  passphrase: string | undefined,
): KeyObject | undefined {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (err) {
    // An encrypted PKCS#8 key (EncryptedPrivateKeyInfo) is known by Node's code for it: then only
    // the passphrase can be at fault, and the message must name it, not the format.
    if ((err as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE') {
      if (passphrase === undefined) throw passphraseError(file, true);
      try {
        return createPrivateKey({ key: der, format: 'der', type: 'pkcs8', passphrase });
      } catch {
        throw passphraseError(file, false);
      }
    }
  }
  const attempts = [{ type: 'pkcs1' as const }, { type: 'sec1' as const }];
  for (const attempt of attempts) {
    try {
      return createPrivateKey({ key: der, format: 'der', ...attempt });
    } catch {
      // not this encoding
    }
  }
  return undefined;
}

function parseBinary(der: Buffer, file: string, passphrase: string | undefined): KeyFileContents {
  let bundle: ReturnType<typeof readPkcs12>;
  try {
    bundle = readPkcs12(der, passphrase);
  } catch (err) {
    if (err instanceof Pkcs12PassphraseError) throw passphraseError(file, err.missing);
    if (!(err instanceof NotPkcs12Error))
      throw keyFileError(file, `is an unreadable PKCS#12 file (${(err as Error).message})`);
    const key = parseDerKey(der, file, passphrase);
    if (!key)
      throw keyFileError(
        file,
        'is neither PKCS#12 nor a DER private key',
        'use PEM, JWK/JWKS JSON, PKCS#12 (.pfx/.p12) or DER',
      );
    return { format: 'der', entries: [{ key, certificates: [] }] };
  }
  if (bundle.keys.length === 0)
    throw keyFileError(
      file,
      'is a PKCS#12 file without a private key (only certificates)',
      'export the certificate with its private key',
    );
  return {
    format: 'pkcs12',
    entries: bundle.keys.map((key) => ({ key, certificates: bundle.certificates })),
  };
}

/**
 * Detects the format of a key file and reads every private key in it, in file order.
 *
 * @param passphrase opens PKCS#12 bundles and encrypted PEM or DER keys.
 * @throws {ConfigError} naming OIDC_CLIENT_KEY_FILE, or OIDC_CLIENT_KEY_PASSPHRASE when the
 *   passphrase is missing or wrong.
 */
export function parseKeyFile(content: Buffer, file: string, passphrase?: string): KeyFileContents {
  const text = content
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trim();
  if (text.startsWith('{')) return parseJson(text, file);
  if (text.includes('-----BEGIN')) return parsePem(text, file, passphrase);
  if (/^[A-Za-z0-9+/=\s]+$/.test(text) && text.length > 64)
    return parseBinary(Buffer.from(text.replace(/\s+/g, ''), 'base64'), file, passphrase);
  if (content[0] === 0x30) return parseBinary(content, file, passphrase);
  throw keyFileError(
    file,
    'is neither PEM, JWK/JWKS JSON, PKCS#12 nor DER',
    'see "Keys" in the README for the accepted formats',
  );
}
