import { createHash, X509Certificate } from 'node:crypto';

import { calculateJwkThumbprint } from 'jose';
import type { ClientMetadata, JWK } from 'oidc-provider';

/**
 * How the bundled provider knows the demo client's public keys: the three ways real providers
 * register a private_key_jwt client.
 *
 * - `jwks_uri`: the provider fetches the app's `/.well-known/jwks.json` (and caches it);
 * - `jwks`: a public JWK Set pasted into the registration;
 * - `certificate`: an X.509 certificate uploaded to the registration, as Entra ID's certificate
 *   credentials and IdentityServer's `X509CertificateBase64` secrets work. The assertion must then
 *   name the certificate by its thumbprint (`x5t#S256`, or the SHA-1 `x5t`).
 */

/** A registered certificate and how an assertion refers to it. */
export type RegisteredCertificate = {
  readonly certificate: X509Certificate;
  /** RFC 7638 thumbprint of its public key: the `kid` it is registered under. */
  readonly kid: string;
  /** base64url SHA-256 / SHA-1 of its DER: the `x5t#S256` / `x5t` that identify it. */
  readonly x5tS256: string;
  readonly x5t: string;
};

export type ClientRegistration =
  /** The provider reads the client's public keys from the app's jwks_uri (the default). */
  | { readonly mode: 'jwks_uri'; readonly jwksUri: string }
  /** The client's public keys are registered inline. */
  | { readonly mode: 'jwks'; readonly jwks: { keys: JWK[] } }
  /** The client's X.509 certificate(s) are registered. */
  | { readonly mode: 'certificate'; readonly certificates: readonly RegisteredCertificate[] };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Reads certificates as an admin console accepts them: PEM (one or more), DER, or the base64 of
 * the DER (IdentityServer's `X509CertificateBase64`). Deliberately not the app's reader
 * (lib/certificates.ts): the provider stands for a third party, and must not share the app's bugs.
 */
export function readCertificates(content: Buffer): X509Certificate[] {
  const text = content.toString('utf8').trim();
  if (text.includes('-----BEGIN'))
    return (text.match(PEM_CERTIFICATE) ?? []).map((pem) => new X509Certificate(pem));
  const der = /^[A-Za-z0-9+/=\s]+$/.test(text)
    ? Buffer.from(text.replace(/\s+/g, ''), 'base64')
    : content;
  return [new X509Certificate(der)];
}

/** A certificate as registered: its thumbprints and the `kid` of its public key. */
export async function registerCertificate(
  certificate: X509Certificate,
): Promise<RegisteredCertificate> {
  const jwk = certificate.publicKey.export({ format: 'jwk' }) as JWK;
  return {
    certificate,
    kid: await calculateJwkThumbprint(
      jwk as Parameters<typeof calculateJwkThumbprint>[0],
      'sha256',
    ),
    x5tS256: createHash('sha256').update(certificate.raw).digest('base64url'),
    x5t: createHash('sha1').update(certificate.raw).digest('base64url'),
  };
}

/**
 * The public JWK oidc-provider verifies with for a registered certificate. It has no `alg`, so any
 * algorithm the key type allows is accepted, as with a certificate in Entra ID or IdentityServer.
 */
function certificateJwk(registered: RegisteredCertificate): JWK {
  const jwk = registered.certificate.publicKey.export({ format: 'jwk' }) as JWK;
  return {
    ...jwk,
    kid: registered.kid,
    use: 'sig',
    x5c: [registered.certificate.raw.toString('base64')],
  };
}

/** The client metadata members that carry its keys, for each registration mode. */
export function clientKeyMetadata(
  registration: ClientRegistration,
): Pick<ClientMetadata, 'jwks' | 'jwks_uri'> {
  switch (registration.mode) {
    case 'jwks_uri':
      return { jwks_uri: registration.jwksUri };
    case 'jwks':
      return { jwks: registration.jwks };
    case 'certificate':
      return { jwks: { keys: registration.certificates.map(certificateJwk) } };
  }
}
