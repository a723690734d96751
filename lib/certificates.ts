import { createHash, X509Certificate, type KeyObject } from 'node:crypto';

/**
 * X.509 certificates that come with a client key: from `OIDC_CLIENT_CERT_FILE`, from inside a
 * PKCS#12 bundle, from a PEM bundle next to the key, or from a JWK's `x5c`.
 *
 * A certificate adds nothing cryptographic to private_key_jwt (the key signs either way), but
 * providers that register certificates rather than keys — Entra ID, IdentityServer's
 * `X509CertificateBase64` — find the key by the certificate's thumbprint in the assertion header
 * (`x5t#S256`, `x5t`), and a JWK can carry the chain (`x5c`). Parsing is Node's X509Certificate.
 */

/** A certificate bound to a client key, with what goes into the JWK and the assertion header. */
export type CertificateBinding = {
  /** The chain as the JWK `x5c` member: base64 (not base64url) DER, the key's certificate first. */
  readonly x5c: readonly string[];
  /** base64url SHA-1 of the certificate's DER: the `x5t` header (RFC 7515 §4.1.7). */
  readonly x5t: string;
  /** base64url SHA-256 of the certificate's DER: the `x5t#S256` header (RFC 7515 §4.1.8). */
  readonly x5tS256: string;
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
};

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const BASE64_TEXT = /^[A-Za-z0-9+/=\s]+$/;

/** Every PEM certificate block in a text, in order. */
export function pemCertificates(text: string): X509Certificate[] {
  return (text.match(PEM_CERTIFICATE) ?? []).map((block) => new X509Certificate(block));
}

/**
 * Reads the certificates of a file: PEM (one or more blocks), DER, or the base64 of the DER on
 * one line (how IdentityServer's `X509CertificateBase64` and many admin consoles show it).
 *
 * @throws {Error} when the content is none of these.
 */
export function parseCertificates(content: Buffer): X509Certificate[] {
  const text = content.toString('utf8');
  if (text.includes('-----BEGIN')) {
    const certificates = pemCertificates(text);
    if (certificates.length === 0) throw new Error('holds PEM blocks but no CERTIFICATE');
    return certificates;
  }
  const trimmed = text.trim();
  const der =
    BASE64_TEXT.test(trimmed) && trimmed.length > 0
      ? Buffer.from(trimmed.replace(/\s+/g, ''), 'base64')
      : content;
  try {
    return [new X509Certificate(der)];
  } catch {
    throw new Error('is not a certificate (PEM, DER or base64 DER expected)');
  }
}

/** base64url SHA-1 and SHA-256 digests of the certificate's DER encoding. */
export function certificateThumbprints(certificate: X509Certificate): {
  x5t: string;
  x5tS256: string;
} {
  return {
    x5t: createHash('sha1').update(certificate.raw).digest('base64url'),
    x5tS256: createHash('sha256').update(certificate.raw).digest('base64url'),
  };
}

/** The certificate for `privateKey` followed by its issuers found among `candidates`. */
function chainFor(
  leaf: X509Certificate,
  candidates: readonly X509Certificate[],
): X509Certificate[] {
  const chain = [leaf];
  let current = leaf;
  while (current.issuer !== current.subject || !current.checkIssued(current)) {
    const issuer = candidates.find((c) => !chain.includes(c) && current.checkIssued(c));
    if (!issuer) break;
    chain.push(issuer);
    current = issuer;
  }
  return chain;
}

/** Whether `certificate` is within its validity period at `now`. */
function isValidAt(certificate: X509Certificate, now: Date): boolean {
  return new Date(certificate.validFrom) <= now && now <= new Date(certificate.validTo);
}

/**
 * Binds a certificate to a private key: picks, among `candidates`, the certificate whose public
 * key is the key's, and orders its chain. When several certify the key (a renewal bundled with
 * the certificate it replaces), the one valid now wins, then the one that expires last: the
 * thumbprint sent must be of the certificate the provider holds as current, and providers that
 * check certificates (Entra ID) refuse an expired one.
 *
 * MUST: a certificate is used only for the key it certifies; publishing or sending the thumbprint
 * of another key's certificate would make providers look up the wrong key.
 *
 * @returns undefined when no candidate certifies this key.
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-4.7 (x5c: the key's certificate first)
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1.8 (x5t#S256)
 */
export function bindCertificate(
  privateKey: KeyObject,
  candidates: readonly X509Certificate[],
  now = new Date(),
): CertificateBinding | undefined {
  const [leaf] = candidates
    .filter((c) => c.checkPrivateKey(privateKey))
    .sort(
      (a, b) =>
        Number(isValidAt(b, now)) - Number(isValidAt(a, now)) ||
        new Date(b.validTo).getTime() - new Date(a.validTo).getTime(),
    );
  if (!leaf) return undefined;
  return {
    x5c: chainFor(leaf, candidates).map((c) => c.raw.toString('base64')),
    ...certificateThumbprints(leaf),
    subject: leaf.subject,
    issuer: leaf.issuer,
    serialNumber: leaf.serialNumber,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

/** Days before expiry from which a certificate is reported as expiring. */
export const CERTIFICATE_EXPIRY_WARNING_DAYS = 30;

/**
 * What an operator should hear about a certificate's validity. Expired certificates are reported,
 * not refused: the key still signs, and a provider that registered keys rather than certificates
 * keeps accepting it; providers that check certificates (Entra ID) reject the assertion.
 */
export function describeCertificateValidity(
  binding: CertificateBinding,
  now = new Date(),
): string | undefined {
  if (now < binding.notBefore)
    return `the certificate (${binding.subject}) is not valid before ${binding.notBefore.toISOString()}`;
  if (now > binding.notAfter)
    return `the certificate (${binding.subject}) expired on ${binding.notAfter.toISOString()}`;
  const days = Math.floor((binding.notAfter.getTime() - now.getTime()) / 86_400_000);
  if (days < CERTIFICATE_EXPIRY_WARNING_DAYS)
    return `the certificate (${binding.subject}) expires in ${days} days (${binding.notAfter.toISOString()})`;
  return undefined;
}
