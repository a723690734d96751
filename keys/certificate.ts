// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';

import {
  createPublicKey,
  randomBytes,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';

import * as x509 from '@peculiar/x509';

/**
 * Self-signed X.509 certificates for client keys, for providers that register certificates
 * rather than keys (Entra ID certificate credentials, IdentityServer's `X509CertificateBase64`).
 * Built with @peculiar/x509 over WebCrypto: RSA (PKCS#1 v1.5 or PSS), ECDSA P-256 and Ed25519.
 */

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type CertificateOptions = {
  /** Subject common name. */
  readonly commonName?: string;
  /** Validity in days from now. */
  readonly days?: number;
  readonly notBefore?: Date;
  /**
   * Makes it a TLS server's certificate for this DNS name (subjectAltName, extendedKeyUsage
   * serverAuth): the e2e suites' TLS proxy (e2e/support/tls-proxy.ts).
   */
  readonly serverName?: string;
};

/** The WebCrypto signature algorithm a key signs its own certificate with. */
function signingAlgorithm(key: KeyObject): RsaHashedImportParams | EcKeyImportParams | Algorithm {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    case 'ec':
      return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as EcKeyImportParams;
    case 'ed25519':
      return { name: 'Ed25519' };
    default:
      throw new Error(`cannot make a certificate for a ${key.asymmetricKeyType} key`);
  }
}

/**
 * A self-signed certificate for a private key: digital-signature key usage, not a CA, a random
 * serial number, valid from now (a minute back, for clock differences) for `days` days.
 */
export async function createSelfSignedCertificate(
  privateKey: KeyObject,
  options: CertificateOptions = {},
): Promise<X509Certificate> {
  const algorithm = signingAlgorithm(privateKey);
  const keys = {
    privateKey: await webcrypto.subtle.importKey(
      'pkcs8',
      privateKey.export({ type: 'pkcs8', format: 'der' }),
      algorithm,
      false,
      ['sign'],
    ),
    publicKey: await webcrypto.subtle.importKey(
      'spki',
      createPublicKey(privateKey).export({ type: 'spki', format: 'der' }),
      algorithm,
      true,
      ['verify'],
    ),
  };
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // a positive INTEGER
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: `CN=${(options.commonName ?? 'private_key_jwt client').replace(/[,=+<>#;"\\]/g, ' ')}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.days ?? 365) * 86_400_000),
    signingAlgorithm: algorithm,
    keys: keys as CryptoKeyPair,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create((keys as CryptoKeyPair).publicKey),
      ...(options.serverName === undefined
        ? []
        : [
            new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: options.serverName }]),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          ]),
    ],
  });
  return new X509Certificate(Buffer.from(certificate.rawData));
}
