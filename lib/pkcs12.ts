import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

import type forge from 'node-forge';

/**
 * Reads PKCS#12 / PFX bundles (RFC 7292): the private key and certificates an integrator exports
 * from Windows, Azure Key Vault, IdentityServer samples (the article's `idsrv3test.pfx`) or
 * `openssl pkcs12 -export`.
 *
 * Parsing and decryption are node-forge's: it reads both today's OpenSSL 3 defaults (PBES2 with
 * PBKDF2 and AES-256-CBC, a SHA-256 MAC) and the legacy algorithms older tools still write
 * (pbeWithSHAAnd3-KeyTripleDES-CBC, pbeWithSHAAnd40BitRC2-CBC, a SHA-1 MAC), which Node's OpenSSL 3
 * no longer offers without its legacy provider. The keys then become ordinary Node KeyObjects.
 */

/** The passphrase is missing or wrong. */
export class Pkcs12PassphraseError extends Error {
  constructor(readonly missing: boolean) {
    super(
      missing
        ? 'the PKCS#12 file is passphrase-protected and no passphrase was given'
        : 'the passphrase does not open the PKCS#12 file',
    );
    this.name = 'Pkcs12PassphraseError';
  }
}

/** The content is not a PKCS#12 PFX at all. */
export class NotPkcs12Error extends Error {
  constructor(cause: unknown) {
    super('not a PKCS#12 PFX', { cause });
    this.name = 'NotPkcs12Error';
  }
}

export type Pkcs12Contents = {
  /** Private keys in bag order. */
  readonly keys: readonly KeyObject[];
  /** Certificates in bag order (the key's own certificate and any chain). */
  readonly certificates: readonly X509Certificate[];
};

let loaded: typeof forge | undefined;

/**
 * node-forge, loaded on first use: only PKCS#12 files need it, and loading it costs every server
 * process about 10 MB and 90 ms at start (measured by `npm run bench`: memory, cold start).
 */
function loadForge(): typeof forge {
  loaded ??= createRequire(import.meta.url)('node-forge') as typeof forge;
  return loaded;
}

const WRONG_PASSPHRASE = /Invalid password|wrong password/i;

function binary(der: Buffer): forge.util.ByteStringBuffer {
  return loadForge().util.createBuffer(der.toString('binary'));
}

function toBuffer(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(loadForge().asn1.toDer(node).getBytes(), 'binary');
}

function open(der: Buffer, passphrase: string | undefined): forge.pkcs12.Pkcs12Pfx {
  let asn1: forge.asn1.Asn1;
  try {
    asn1 = loadForge().asn1.fromDer(binary(der), false);
  } catch (cause) {
    throw new NotPkcs12Error(cause);
  }
  // PKCS#12 tells an empty passphrase ("", what `-passout pass:` writes) from none at all; try
  // both when none is configured.
  const attempts = passphrase === undefined ? ['', undefined] : [passphrase];
  for (const attempt of attempts) {
    try {
      return loadForge().pkcs12.pkcs12FromAsn1(asn1, false, attempt);
    } catch (err) {
      const message = (err as Error).message;
      if (WRONG_PASSPHRASE.test(message)) continue;
      if (/Cannot read PKCS#12 PFX/.test(message)) throw new NotPkcs12Error(err);
      throw err;
    }
  }
  throw new Pkcs12PassphraseError(passphrase === undefined);
}

function keyOf(bag: forge.pkcs12.Bag): KeyObject {
  // forge models RSA keys itself and hands anything else (EC, Ed25519) back as PrivateKeyInfo.
  const privateKeyInfo = bag.key
    ? loadForge().pki.wrapRsaPrivateKey(loadForge().pki.privateKeyToAsn1(bag.key))
    : bag.asn1;
  return createPrivateKey({ key: toBuffer(privateKeyInfo), format: 'der', type: 'pkcs8' });
}

function certificateOf(bag: forge.pkcs12.Bag): X509Certificate {
  return new X509Certificate(
    toBuffer(bag.cert ? loadForge().pki.certificateToAsn1(bag.cert) : bag.asn1),
  );
}

/**
 * Opens a PKCS#12 bundle.
 *
 * @throws {NotPkcs12Error} when the bytes are not a PFX.
 * @throws {Pkcs12PassphraseError} when the passphrase is missing or wrong.
 * @see https://www.rfc-editor.org/rfc/rfc7292
 */
export function readPkcs12(der: Buffer, passphrase: string | undefined): Pkcs12Contents {
  const pfx = open(der, passphrase);
  const { oids } = loadForge().pki;
  const keys: KeyObject[] = [];
  const certificates: X509Certificate[] = [];
  for (const contents of pfx.safeContents) {
    for (const bag of contents.safeBags) {
      if (bag.type === oids.pkcs8ShroudedKeyBag || bag.type === oids.keyBag) keys.push(keyOf(bag));
      else if (bag.type === oids.certBag) certificates.push(certificateOf(bag));
    }
  }
  return { keys, certificates };
}
