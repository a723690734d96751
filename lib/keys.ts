import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { calculateJwkThumbprint, importJWK, type CryptoKey, type JWK } from 'jose';

import { CLIENT_AUTH_ALGS, isClientAuthAlg, type ClientAuthAlg } from './algorithms';
import { getConfig } from './config';
import { ConfigError } from './errors';
import { processSlot } from './process-slot';

/**
 * The client's key material: the private key that signs client assertions and the public keys the
 * app publishes at `/.well-known/jwks.json`.
 *
 * Parsing is Node's (`crypto.createPrivateKey` reads PKCS#8, PKCS#1 and SEC1 PEM as well as JWK);
 * signing keys become non-extractable WebCrypto keys through jose, which is what openid-client
 * signs with. Importing costs more than signing, so this happens once per key file.
 */


/** A public JWK as published: never a private member. */
export type PublicJwk = JWK & { kid: string; alg: ClientAuthAlg; use: 'sig' };

export type ClientKey = {
  readonly kid: string;
  readonly alg: ClientAuthAlg;
  /** Non-extractable WebCrypto private key. */
  readonly privateKey: CryptoKey;
  readonly publicJwk: Readonly<PublicJwk>;
};

export type ClientKeySet = {
  /** The key that signs assertions: the first key of the file. */
  readonly signing: ClientKey;
  /** Every public key the provider may still see, signing key first. */
  readonly published: readonly Readonly<PublicJwk>[];
};

/** Minimum RSA modulus: RFC 7518 §3.3 requires 2048 bits for RS/PS algorithms. */
export const MIN_RSA_BITS = 2048;

function keyError(file: string, message: string, fix?: string): ConfigError {
  return new ConfigError([{ variable: 'OIDC_CLIENT_KEY_FILE', message: `${file}: ${message}`, ...(fix ? { fix } : {}) }]);
}

/** The algorithm a key signs with when the file does not say: RS256 for RSA (as in the article). */
export function defaultAlgFor(key: KeyObject): ClientAuthAlg | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
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
      return key.asymmetricKeyType === 'rsa' || (alg === 'PS256' && key.asymmetricKeyType === 'rsa-pss');
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    case 'EdDSA':
      return key.asymmetricKeyType === 'ed25519';
  }
}

type ParsedKey = { key: KeyObject; kid?: string | undefined; alg?: string | undefined };

/** Private keys in a file, in file order. PEM (PKCS#8, PKCS#1, SEC1), a private JWK or JWKS. */
export function parsePrivateKeys(content: string, file: string): ParsedKey[] {
  const text = content.trim();
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw keyError(file, 'is not valid JSON');
    }
    const jwks = json as { keys?: unknown };
    const entries = Array.isArray(jwks.keys) ? (jwks.keys as unknown[]) : [json];
    if (entries.length === 0) throw keyError(file, 'holds an empty JWKS');
    return entries.map((entry, index) => {
      const jwk = entry as JWK;
      if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
        throw keyError(file, `key #${index + 1} is not a private JWK (no "d" member)`, 'use the private key file, not the public one');
      }
      try {
        return { key: createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }), kid: jwk.kid, alg: jwk.alg };
      } catch (cause) {
        throw keyError(file, `key #${index + 1} is not a usable private JWK (${(cause as Error).message})`);
      }
    });
  }
  if (text.includes('-----BEGIN')) {
    if (/-----BEGIN (PUBLIC KEY|CERTIFICATE|RSA PUBLIC KEY)-----/.test(text) && !/PRIVATE KEY-----/.test(text)) {
      throw keyError(file, 'holds a public key or certificate, not a private key', 'point OIDC_CLIENT_KEY_FILE at the private key');
    }
    try {
      return [{ key: createPrivateKey({ key: text, format: 'pem' }) }];
    } catch (cause) {
      throw keyError(file, `is not a readable PEM private key (${(cause as Error).message})`);
    }
  }
  throw keyError(file, 'is neither PEM nor JWK/JWKS JSON');
}

/** The public half of a key as a JWK, with `kid` (RFC 7638 thumbprint unless given), `alg`, `use`. */
export async function toPublicJwk(key: KeyObject, alg: ClientAuthAlg, kid?: string): Promise<PublicJwk> {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' }) as JWK;
  return { ...jwk, kid: kid ?? (await calculateJwkThumbprint(jwk, 'sha256')), alg, use: 'sig' };
}

async function toClientKey(parsed: ParsedKey, file: string, index: number, forcedAlg?: ClientAuthAlg): Promise<ClientKey> {
  const { key } = parsed;
  const where = `key #${index + 1}`;
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    // MUST: short RSA keys are forgeable; RFC 7518 §3.3 sets 2048 bits as the floor.
    if (bits < MIN_RSA_BITS) throw keyError(file, `${where} is a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required`, 'generate a new key with `npm run keys -- generate`');
  }
  const declared = parsed.alg;
  if (declared !== undefined && !isClientAuthAlg(declared)) {
    throw keyError(file, `${where} declares alg "${declared}", which this client does not sign with`, `use one of ${CLIENT_AUTH_ALGS.join(', ')}`);
  }
  const alg = forcedAlg ?? declared ?? defaultAlgFor(key);
  if (alg === undefined) {
    throw keyError(file, `${where} is a ${key.asymmetricKeyType} key; supported are RSA (≥ 2048 bits), EC P-256 and Ed25519`);
  }
  if (!isCompatible(key, alg)) {
    throw keyError(file, `${where} (${key.asymmetricKeyType}) cannot sign ${alg}`);
  }
  const publicJwk = await toPublicJwk(key, alg, parsed.kid);
  const privateJwk = { ...(key.export({ format: 'jwk' }) as JWK), alg };
  const privateKey = (await importJWK(privateJwk, alg, { extractable: false })) as CryptoKey;
  return { kid: publicJwk.kid, alg, privateKey, publicJwk: Object.freeze(publicJwk) };
}

/**
 * Loads the client's keys from a file. The first key signs; all are published.
 *
 * @param alg Forces the signing algorithm of the first key (e.g. PS256 with an RSA key).
 * @throws {ConfigError} naming OIDC_CLIENT_KEY_FILE when the file is unusable.
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5 (JWK Set)
 * @see https://www.rfc-editor.org/rfc/rfc7638 (JWK thumbprint as `kid`)
 */
export async function loadClientKeySet(file: string, alg?: ClientAuthAlg): Promise<ClientKeySet> {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (cause) {
    throw keyError(file, `cannot be read (${(cause as Error).message})`);
  }
  const parsed = parsePrivateKeys(content, file);
  const keys = await Promise.all(parsed.map((p, i) => toClientKey(p, file, i, i === 0 ? alg : undefined)));
  const kids = new Set(keys.map((k) => k.kid));
  if (kids.size !== keys.length) throw keyError(file, 'holds two keys with the same kid');
  const [signing] = keys;
  if (!signing) throw keyError(file, 'holds no key');
  return Object.freeze({ signing, published: Object.freeze(keys.map((k) => k.publicJwk)) });
}

const loaded = processSlot<{ file: string; keys: Promise<ClientKeySet> }>('client-keys');

/**
 * The configured client keys, loaded and imported once per process.
 *
 * @throws {ConfigError} when OIDC_CLIENT_KEY_FILE is unusable.
 */
export function getClientKeySet(): Promise<ClientKeySet> {
  const { clientKeyFile, assertion } = getConfig();
  const current = loaded.get();
  if (current?.file === clientKeyFile) return current.keys;
  const keys = loadClientKeySet(clientKeyFile, assertion.alg);
  loaded.set({ file: clientKeyFile, keys });
  keys.catch(() => {
    if (loaded.get()?.keys === keys) loaded.set(undefined);
  });
  return keys;
}
