import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

import { calculateJwkThumbprint, importJWK, type CryptoKey, type JWK } from 'jose';

import { CLIENT_AUTH_ALGS, isClientAuthAlg, isEd25519Alg, type ClientAuthAlg } from './algorithms';
import {
  bindCertificate,
  describeCertificateValidity,
  parseCertificates,
  type CertificateBinding,
} from './certificates';
import { getConfig } from './config';
import { ConfigError } from './errors';
import { keyFileError, parseKeyFile, type KeyFileEntry, type KeyFileFormat } from './key-file';
import { describeError, log } from './log';
import { processSlot } from './process-slot';

/**
 * The client's key material: the private key that signs client assertions and the public keys the
 * app publishes at `/.well-known/jwks.json`.
 *
 * The key file (any format lib/key-file.ts reads) lists keys in order: the first signs, all are
 * published, so a key can be published before it signs and after it stopped (rotation, see
 * keys/cli.ts). Signing keys become non-extractable WebCrypto keys through jose, which is what
 * openid-client signs with; importing costs more than signing, so it happens once per file
 * version. {@link getClientKeySet} notices a changed file within a second and reloads it, so a
 * rotation needs no restart.
 */

/** A public JWK as published: never a private member. */
export type PublicJwk = JWK & { kid: string; use: 'sig' };

export type ClientKey = {
  readonly kid: string;
  /**
   * The algorithm this key signs with. For an Ed25519 key whose algorithm nobody named (a PEM or
   * PFX key, no OIDC_CLIENT_AUTH_ALG) it is `EdDSA`, and the name sent is chosen from what the
   * provider lists (see `selectAssertionAlg`).
   */
  readonly alg: ClientAuthAlg;
  /** Whether the key file or OIDC_CLIENT_AUTH_ALG named the algorithm. */
  readonly algDeclared: boolean;
  /** Non-extractable WebCrypto private key. */
  readonly privateKey: CryptoKey;
  readonly publicJwk: Readonly<PublicJwk>;
  /** The X.509 certificate of this key, when one came with it. */
  readonly certificate?: CertificateBinding | undefined;
  /** The key tool's rotation marker: `next` (published, not yet signing) or `previous`. */
  readonly status?: string | undefined;
};

export type ClientKeySet = {
  /** The key that signs assertions: the first key of the file. */
  readonly signing: ClientKey;
  /** Every key, in file order (signing key first). */
  readonly keys: readonly ClientKey[];
  /** Every public key the provider may still see, signing key first. */
  readonly published: readonly Readonly<PublicJwk>[];
  readonly format: KeyFileFormat;
  /** Things an operator should hear about (an expiring certificate, a key file others can read). */
  readonly warnings: readonly string[];
};

/** Where the keys come from: the settings that shape the key set. */
export type KeySource = {
  readonly file: string;
  /** Opens a PKCS#12 bundle or an encrypted PEM key. */
  readonly passphrase?: string | undefined;
  /** The certificate of one of the keys (PEM or DER), when the key file carries none. */
  readonly certFile?: string | undefined;
  /** Forces the signing algorithm (e.g. PS256 with an RSA key) of the first key and of every key that can sign it. */
  readonly alg?: ClientAuthAlg | undefined;
};

/**
 * How long providers may cache the published JWKS (`Cache-Control: max-age` of the JWKS route).
 * Short, because a key must be published at least this long before it signs: a provider that
 * fetched the JWKS just before a new key appeared does not see it until its copy expires
 * (oidc-provider keeps a client's JWKS for max(60 s, max-age), even for an unknown `kid`).
 */
export const JWKS_MAX_AGE_SECONDS = 60;

/** Minimum RSA modulus: RFC 7518 §3.3 requires 2048 bits for RS/PS algorithms. */
export const MIN_RSA_BITS = 2048;
/**
 * Minimum RSA public exponent: 65537 (F4), what every key generator has used for decades.
 * Small exponents (3) made PKCS#1 v1.5 signature forgeries practical against lax verifiers
 * (Bleichenbacher 2006), and NIST SP 800-56B and FIPS 186-5 require at least 65537.
 */
export const MIN_RSA_PUBLIC_EXPONENT = 65537n;

/**
 * The reason a private key file needs tighter permissions, or undefined: its group or other users
 * may read (or write) it (POSIX mode bits; Windows has none to check).
 */
export function describeKeyFilePermissions(file: string, mode: number): string | undefined {
  if (process.platform === 'win32' || (mode & 0o077) === 0) return undefined;
  const who = [mode & 0o070 ? 'its group' : '', mode & 0o007 ? 'other users' : '']
    .filter(Boolean)
    .join(' and ');
  const octal = (mode & 0o777).toString(8).padStart(3, '0');
  return `${file} is open to ${who} (mode ${octal}); a private key belongs to its owner alone: chmod 600 ${file}`;
}

/** The algorithm a key signs with when nobody says: RS256 for RSA (as in the article). */
export function defaultAlgFor(key: KeyObject): ClientAuthAlg | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : undefined;
    case 'ed25519':
      return 'EdDSA';
    default:
      return undefined;
  }
}

function isCompatible(key: KeyObject, alg: ClientAuthAlg): boolean {
  switch (alg) {
    case 'RS256':
    case 'PS256':
      return key.asymmetricKeyType === 'rsa';
    case 'ES256':
      return (
        key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      );
    case 'EdDSA':
    case 'Ed25519':
      return key.asymmetricKeyType === 'ed25519';
  }
}

/**
 * The public half of a key as a JWK, with `kid` (RFC 7638 thumbprint unless given), `use`, `alg`
 * when given, and the certificate chain (`x5c`, `x5t#S256`) when there is one.
 */
export async function toPublicJwk(
  key: KeyObject,
  alg: ClientAuthAlg | undefined,
  kid?: string,
  certificate?: CertificateBinding,
): Promise<PublicJwk> {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({
    format: 'jwk',
  }) as JWK;
  return {
    ...jwk,
    kid: kid ?? (await calculateJwkThumbprint(jwk, 'sha256')),
    use: 'sig',
    ...(alg ? { alg } : {}),
    ...(certificate ? { x5c: [...certificate.x5c], 'x5t#S256': certificate.x5tS256 } : {}),
  };
}

async function toClientKey(
  entry: KeyFileEntry,
  candidates: readonly X509Certificate[],
  file: string,
  index: number,
  forcedAlg?: ClientAuthAlg,
): Promise<ClientKey> {
  const { key } = entry;
  const where = `key #${index + 1}`;
  if (key.asymmetricKeyType === 'rsa-pss') {
    // Neither JWK nor WebCrypto can carry an id-RSASSA-PSS key; PS256 needs no such key anyway.
    throw keyFileError(
      file,
      `${where} is an RSA-PSS (id-RSASSA-PSS) key, which JWK and WebCrypto cannot use`,
      'export it as an ordinary RSA key (PKCS#8, rsaEncryption); it signs PS256 all ' +
        'the same (OIDC_CLIENT_AUTH_ALG=PS256)',
    );
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    // MUST: short RSA keys are forgeable; RFC 7518 §3.3 sets 2048 bits as the floor.
    if (bits < MIN_RSA_BITS)
      throw keyFileError(
        file,
        `${where} is a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required`,
        'generate a new key with `npm run keys -- generate`',
      );
    const exponent = key.asymmetricKeyDetails?.publicExponent ?? 0n;
    // MUST: a small public exponent invites signature forgeries against lax verifiers.
    if (exponent < MIN_RSA_PUBLIC_EXPONENT)
      throw keyFileError(
        file,
        `${where} is an RSA key with public exponent ${exponent}; at least ${MIN_RSA_PUBLIC_EXPONENT} is required`,
        'generate a new key with `npm run keys -- generate` (exponent 65537)',
      );
  }
  const declared = entry.alg;
  if (declared !== undefined && !isClientAuthAlg(declared)) {
    throw keyFileError(
      file,
      `${where} declares alg "${declared}", which this client does not sign with`,
      `use one of ${CLIENT_AUTH_ALGS.join(', ')}`,
    );
  }
  // A forced algorithm applies to every key that can sign it, not only the signing key: a key
  // published now under one `alg` must not change its `alg` when it is promoted (providers that
  // cached it would no longer match it). The signing key must be able to sign it.
  const forced =
    forcedAlg !== undefined && (index === 0 || isCompatible(key, forcedAlg))
      ? forcedAlg
      : undefined;
  const alg = forced ?? declared ?? defaultAlgFor(key);
  if (alg === undefined) {
    throw keyFileError(
      file,
      `${where} is a ${key.asymmetricKeyType} key; supported are RSA (≥ 2048 bits), EC P-256 and Ed25519`,
    );
  }
  if (!isCompatible(key, alg)) {
    throw keyFileError(file, `${where} (${key.asymmetricKeyType}) cannot sign ${alg}`);
  }
  const algDeclared = forced !== undefined || declared !== undefined;
  const certificate = bindCertificate(key, [...entry.certificates, ...candidates]);
  if (entry.certificates.length > 0 && certificate === undefined) {
    throw keyFileError(
      file,
      `${where} comes with a certificate whose public key is not this key's`,
      'export the certificate that belongs to this key',
    );
  }
  // An Ed25519 key with no declared name is published without `alg`: verifiers pick it by kty,
  // crv and kid and accept either name, so the app can send the one the provider lists.
  const publishedAlg = isEd25519Alg(alg) && !algDeclared ? undefined : alg;
  const publicJwk = await toPublicJwk(key, publishedAlg, entry.kid, certificate);
  const privateJwk = {
    ...(key.export({ format: 'jwk' }) as JWK),
    alg: isEd25519Alg(alg) ? 'Ed25519' : alg,
  };
  const privateKey = (await importJWK(privateJwk, privateJwk.alg, {
    extractable: false,
  })) as CryptoKey;
  return {
    kid: publicJwk.kid,
    alg,
    algDeclared,
    privateKey,
    publicJwk: Object.freeze(publicJwk),
    certificate,
    status: entry.status,
  };
}

function readCertificateFile(certFile: string): X509Certificate[] {
  let content: Buffer;
  try {
    content = readFileSync(certFile);
  } catch (cause) {
    throw new ConfigError([
      {
        variable: 'OIDC_CLIENT_CERT_FILE',
        message: `${certFile} cannot be read (${(cause as Error).message})`,
      },
    ]);
  }
  try {
    return parseCertificates(content);
  } catch (cause) {
    throw new ConfigError([
      { variable: 'OIDC_CLIENT_CERT_FILE', message: `${certFile} ${(cause as Error).message}` },
    ]);
  }
}

/**
 * Loads the client's keys. The first key signs; all are published.
 *
 * @throws {ConfigError} naming OIDC_CLIENT_KEY_FILE, OIDC_CLIENT_KEY_PASSPHRASE or
 *   OIDC_CLIENT_CERT_FILE when the material is unusable.
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5 (JWK Set)
 * @see https://www.rfc-editor.org/rfc/rfc7638 (JWK thumbprint as `kid`)
 */
export async function loadClientKeySet(
  file: string,
  options: Omit<KeySource, 'file'> = {},
): Promise<ClientKeySet> {
  let content: Buffer;
  let mode: number;
  try {
    content = readFileSync(file);
    mode = statSync(file).mode;
  } catch (cause) {
    throw keyFileError(file, `cannot be read (${(cause as Error).message})`);
  }
  const { format, entries } = parseKeyFile(content, file, options.passphrase);
  const extra = options.certFile ? readCertificateFile(options.certFile) : [];
  const keys = await Promise.all(
    entries.map((entry, i) => toClientKey(entry, extra, file, i, options.alg)),
  );
  if (options.certFile && !keys.some((k) => k.certificate)) {
    throw new ConfigError([
      {
        variable: 'OIDC_CLIENT_CERT_FILE',
        message: `the certificate in ${options.certFile} is not for any key in ${file} (its public key differs)`,
        fix: 'use the certificate issued for this private key',
      },
    ]);
  }
  const kids = new Set(keys.map((k) => k.kid));
  if (kids.size !== keys.length) throw keyFileError(file, 'holds two keys with the same kid');
  const [signing] = keys;
  if (!signing) throw keyFileError(file, 'holds no key');
  const permissions = describeKeyFilePermissions(file, mode);
  const warnings = [
    ...(permissions ? [permissions] : []),
    ...keys.flatMap((k) => {
      const validity = k.certificate ? describeCertificateValidity(k.certificate) : undefined;
      return validity ? [`key ${k.kid}: ${validity}`] : [];
    }),
  ];
  return Object.freeze({
    signing,
    keys: Object.freeze(keys),
    published: Object.freeze(keys.map((k) => k.publicJwk)),
    format,
    warnings: Object.freeze(warnings),
  });
}

/** How often, at most, the key files are checked for changes. */
export const KEY_FILE_CHECK_INTERVAL_MS = 1000;

/** Identifies one version of a file: changes when it is rewritten or replaced. */
function fileVersion(file: string | undefined): string {
  if (!file) return '-';
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * A key set that follows its files: `get()` returns the loaded set, and at most once per
 * {@link KEY_FILE_CHECK_INTERVAL_MS} checks whether the key or certificate file changed, and
 * reloads. A changed file that cannot be loaded (a half-written edit, a typo) keeps the previous
 * keys in service and is logged; a fixed file is picked up at the next check.
 */
export function createKeySetLoader(
  source: KeySource,
  now: () => number = Date.now,
): { get(): Promise<ClientKeySet> } {
  let current: { version: string; checkedAt: number; keys: Promise<ClientKeySet> } | undefined;
  const versionOf = () => `${fileVersion(source.file)}|${fileVersion(source.certFile)}`;
  return {
    get() {
      const time = now();
      if (current && time - current.checkedAt < KEY_FILE_CHECK_INTERVAL_MS) return current.keys;
      const version = versionOf();
      if (current && current.version === version) {
        current.checkedAt = time;
        return current.keys;
      }
      const previous = current?.keys;
      const keys = loadClientKeySet(source.file, source).then(
        (set) => {
          for (const warning of set.warnings) log.warn('client key', { detail: warning });
          if (previous) {
            log.info('client keys reloaded', {
              signing_kid: set.signing.kid.slice(0, 12),
              alg: set.signing.alg,
              published: set.published.length,
            });
          }
          return set;
        },
        (err: unknown) => {
          if (!previous) throw err;
          log.error('client key file changed but cannot be loaded; the previous keys stay in use', {
            reason: describeError(err),
          });
          return previous;
        },
      );
      const entry = { version, checkedAt: time, keys };
      current = entry;
      keys.catch(() => {
        if (current === entry) current = undefined;
      });
      return keys;
    },
  };
}

const loaders = processSlot<{ id: string; loader: ReturnType<typeof createKeySetLoader> }>(
  'client-keys',
);

/**
 * The configured client keys: loaded and imported once, reloaded when the key file changes.
 *
 * @throws {ConfigError} when the key material is unusable (at first load).
 */
export function getClientKeySet(): Promise<ClientKeySet> {
  const { clientKeyFile, clientKeyPassphrase, clientCertFile, assertion } = getConfig();
  const id = JSON.stringify([clientKeyFile, clientCertFile, assertion.alg]);
  let slot = loaders.get();
  if (slot?.id !== id) {
    slot = {
      id,
      loader: createKeySetLoader({
        file: clientKeyFile,
        passphrase: clientKeyPassphrase,
        certFile: clientCertFile,
        alg: assertion.alg,
      }),
    };
    loaders.set(slot);
  }
  return slot.loader.get();
}
