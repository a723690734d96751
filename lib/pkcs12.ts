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
  constructor(
    readonly missing: boolean,
    cause?: unknown,
  ) {
    super(
      missing
        ? 'the PKCS#12 file is passphrase-protected and no passphrase was given'
        : 'the passphrase does not open the PKCS#12 file',
      { cause },
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

function binary(der: Buffer): forge.util.ByteStringBuffer {
  return loadForge().util.createBuffer(der.toString('binary'));
}

function toBuffer(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(loadForge().asn1.toDer(node).getBytes(), 'binary');
}

/** The children of a constructed node, or undefined. */
function childrenOf(node: forge.asn1.Asn1 | undefined): forge.asn1.Asn1[] | undefined {
  return node && Array.isArray(node.value) ? node.value : undefined;
}

function isUniversal(node: forge.asn1.Asn1 | undefined, type: forge.asn1.Type): boolean {
  return node?.tagClass === loadForge().asn1.Class.UNIVERSAL && node.type === type;
}

/**
 * The bytes of an OCTET STRING, primitive (DER) or constructed from chunks (BER, which some
 * exporters write for PKCS#7 Data), or undefined for any other node.
 */
function octetsOf(node: forge.asn1.Asn1 | undefined): string | undefined {
  if (!node || !isUniversal(node, loadForge().asn1.Type.OCTETSTRING)) return undefined;
  if (typeof node.value === 'string') return node.value;
  const chunks = node.value.map(octetsOf);
  return chunks.every((chunk) => chunk !== undefined) ? chunks.join('') : undefined;
}

/** The OID of a node, or undefined when it is not an OBJECT IDENTIFIER. */
function oidOf(node: forge.asn1.Asn1 | undefined): string | undefined {
  const { asn1 } = loadForge();
  return node && isUniversal(node, asn1.Type.OID) && typeof node.value === 'string'
    ? asn1.derToOid(node.value)
    : undefined;
}

/**
 * A ContentInfo (RFC 2315 §7): its content type and its `[0] EXPLICIT` content, or undefined when
 * the node is not shaped like one.
 */
function contentInfoOf(
  node: forge.asn1.Asn1 | undefined,
): { type: string; content: forge.asn1.Asn1 | undefined } | undefined {
  const [type, content] = childrenOf(node) ?? [];
  const oid = oidOf(type);
  if (!isUniversal(node, loadForge().asn1.Type.SEQUENCE) || oid === undefined) return undefined;
  if (content === undefined) return { type: oid, content: undefined };
  if (content.tagClass !== loadForge().asn1.Class.CONTEXT_SPECIFIC || content.type !== 0)
    return undefined;
  return { type: oid, content: childrenOf(content)?.[0] };
}

type Pfx = {
  /** The authenticated safe's bytes (the DER of the AuthenticatedSafe), when it is Data. */
  readonly authSafe: string | undefined;
  readonly mac: forge.asn1.Asn1 | undefined;
};

/**
 * The PFX (RFC 7292 §4) in a parsed DER value, by its shape: `SEQUENCE { version INTEGER,
 * authSafe ContentInfo, macData MacData OPTIONAL }`. A PKCS#8 PrivateKeyInfo also starts with an
 * INTEGER and a SEQUENCE that starts with an OID; the ContentInfo's `[0]` content tells them apart.
 */
function pfxOf(root: forge.asn1.Asn1): Pfx | undefined {
  const { asn1, pki } = loadForge();
  const [version, authSafe, mac, ...rest] = childrenOf(root) ?? [];
  if (!isUniversal(root, asn1.Type.SEQUENCE) || !isUniversal(version, asn1.Type.INTEGER))
    return undefined;
  const info = contentInfoOf(authSafe);
  if (info?.content === undefined || rest.length > 0) return undefined;
  if (mac !== undefined && !isUniversal(mac, asn1.Type.SEQUENCE)) return undefined;
  return { authSafe: info.type === pki.oids.data ? octetsOf(info.content) : undefined, mac };
}

const MAC_DIGESTS: Readonly<
  Record<string, { create: () => forge.md.MessageDigest; bytes: number }>
> = {
  '1.3.14.3.2.26': { create: () => loadForge().md.sha1.create(), bytes: 20 },
  '2.16.840.1.101.3.4.2.1': { create: () => loadForge().md.sha256.create(), bytes: 32 },
  '2.16.840.1.101.3.4.2.2': { create: () => loadForge().md.sha384.create(), bytes: 48 },
  '2.16.840.1.101.3.4.2.3': { create: () => loadForge().md.sha512.create(), bytes: 64 },
};

/**
 * Whether the PFX's MAC (RFC 7292 §4, Appendix B: HMAC keyed from the password with the PKCS#12
 * KDF, ID 3) verifies with `password`; undefined when the MacData cannot be read or its digest is
 * not one this check knows (then node-forge decides, and reports what it finds).
 */
function macVerifies(pfx: Pfx, password: string | undefined): boolean | undefined {
  const forgeLib = loadForge();
  const { asn1 } = forgeLib;
  const [digestInfo, salt, iterations] = childrenOf(pfx.mac) ?? [];
  const [algorithm, digest] = childrenOf(digestInfo) ?? [];
  const md = MAC_DIGESTS[oidOf(childrenOf(algorithm)?.[0]) ?? ''];
  const expected = octetsOf(digest);
  const saltBytes = octetsOf(salt);
  const rounds =
    iterations === undefined
      ? 1
      : isUniversal(iterations, asn1.Type.INTEGER) && typeof iterations.value === 'string'
        ? asn1.derToInteger(iterations.value)
        : 0;
  if (!md || expected === undefined || saltBytes === undefined || pfx.authSafe === undefined)
    return undefined;
  if (!(rounds >= 1)) return undefined;
  const key = forgeLib.pkcs12.generateKey(
    password,
    forgeLib.util.createBuffer(saltBytes),
    3,
    rounds,
    md.bytes,
    md.create(),
  );
  const hmac = forgeLib.hmac.create();
  hmac.start(md.create(), key);
  hmac.update(pfx.authSafe);
  return hmac.digest().getBytes() === expected;
}

/**
 * Whether opening the PFX takes a password: an authenticated safe with encrypted content
 * (EncryptedData, RFC 7292 §4.1) or a shrouded key bag (§4.2.2). Read from the structure, for a PFX
 * without a MAC, where nothing else tells a wrong password from a damaged file.
 */
function needsPassword(pfx: Pfx): boolean {
  const { asn1, pki } = loadForge();
  if (pfx.authSafe === undefined) return false;
  let safe: forge.asn1.Asn1;
  try {
    safe = asn1.fromDer(pfx.authSafe, false);
  } catch {
    return false;
  }
  return (childrenOf(safe) ?? []).some((node) => {
    const info = contentInfoOf(node);
    if (info?.type === pki.oids.encryptedData) return true;
    if (info === undefined || info.type !== pki.oids.data) return false;
    const bags = octetsOf(info.content);
    if (bags === undefined) return false;
    try {
      return (childrenOf(asn1.fromDer(bags, false)) ?? []).some(
        (bag) => oidOf(childrenOf(bag)?.[0]) === pki.oids.pkcs8ShroudedKeyBag,
      );
    } catch {
      return false;
    }
  });
}

/**
 * Opens a PFX. The passphrase is judged by the file's structure, never by node-forge's error texts
 * (it has no error codes): a MAC that verifies with no attempt means the passphrase is missing or
 * wrong; one that verifies makes any later failure the file's. Without a MAC, only a file that
 * takes a password and opens with no attempt points at the passphrase.
 */
function open(der: Buffer, passphrase: string | undefined): forge.pkcs12.Pkcs12Pfx {
  let root: forge.asn1.Asn1;
  try {
    root = loadForge().asn1.fromDer(binary(der), false);
  } catch (cause) {
    throw new NotPkcs12Error(cause);
  }
  const pfx = pfxOf(root);
  if (!pfx) throw new NotPkcs12Error(undefined);
  // PKCS#12 tells an empty passphrase ("", what `-passout pass:` writes) from none at all; try
  // both when none is configured.
  const attempts = passphrase === undefined ? ['', undefined] : [passphrase];
  const fromAsn1 = (attempt: string | undefined) =>
    loadForge().pkcs12.pkcs12FromAsn1(root, false, attempt);
  if (pfx.mac !== undefined) {
    const verdicts = attempts.map((attempt) => macVerifies(pfx, attempt));
    const opened = verdicts.indexOf(true);
    if (opened !== -1) return fromAsn1(attempts[opened]);
    if (verdicts.every((verdict) => verdict === false))
      throw new Pkcs12PassphraseError(passphrase === undefined);
    // A MAC this check cannot read: node-forge's own check reports it.
    return fromAsn1(passphrase);
  }
  if (!needsPassword(pfx)) return fromAsn1(passphrase);
  let failure: unknown;
  for (const attempt of attempts) {
    try {
      return fromAsn1(attempt);
    } catch (err) {
      failure = err;
    }
  }
  throw new Pkcs12PassphraseError(passphrase === undefined, failure);
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
