import { webcrypto, type KeyObject, type X509Certificate } from 'node:crypto';

import * as asn1js from 'asn1js';
import forge from 'node-forge';
import * as pkijs from 'pkijs';

/**
 * PKCS#12 / PFX fixtures for tests, made at test time by libraries (no openssl binary needed):
 *
 * - {@link exportPkcs12} with `modern` encryption (pkijs over WebCrypto): PBES2 with PBKDF2
 *   (HMAC-SHA-256) and AES-256-CBC for the key and the certificates, an HMAC-SHA-256 MAC: what
 *   OpenSSL 3 writes by default. Any key type.
 * - with `legacy` encryption (node-forge): pbeWithSHAAnd3-KeyTripleDES-CBC and an HMAC-SHA-1 MAC,
 *   as older Windows and OpenSSL 1.x exports. RSA keys only (forge models no other key type).
 */

pkijs.setEngine(
  'node',
  new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as Crypto }),
);

const PKCS8_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';

function arrayBuffer(buffer: Buffer): ArrayBuffer {
  return buffer.buffer.slice(
    buffer.byteOffset,
    buffer.byteOffset + buffer.byteLength,
  ) as ArrayBuffer;
}

async function exportModern(
  key: KeyObject,
  certificates: readonly X509Certificate[],
  passphrase: string,
): Promise<Buffer> {
  const password = arrayBuffer(Buffer.from(passphrase, 'utf8'));
  const encryption = {
    password,
    // pkijs draws a random IV itself; the field is only required by its type.
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256, iv: new Uint8Array(16) },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: 2048,
  };
  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            {
              privacyMode: 1,
              value: new pkijs.SafeContents({
                safeBags: certificates.map(
                  (c) =>
                    new pkijs.SafeBag({
                      bagId: CERT_BAG,
                      bagValue: new pkijs.CertBag({
                        parsedValue: pkijs.Certificate.fromBER(arrayBuffer(c.raw)),
                      }),
                    }),
                ),
              }),
            },
            {
              privacyMode: 0,
              value: new pkijs.SafeContents({
                safeBags: [
                  new pkijs.SafeBag({
                    bagId: PKCS8_SHROUDED_KEY_BAG,
                    bagValue: new pkijs.PKCS8ShroudedKeyBag({
                      parsedValue: pkijs.PrivateKeyInfo.fromBER(
                        arrayBuffer(key.export({ type: 'pkcs8', format: 'der' })),
                      ),
                    }),
                  }),
                ],
              }),
            },
          ],
        },
      }),
    },
  });
  const authenticatedSafe = pfx.parsedValue?.authenticatedSafe as pkijs.AuthenticatedSafe;
  const keyBag = authenticatedSafe.parsedValue.safeContents[1].value.safeBags[0]
    .bagValue as pkijs.PKCS8ShroudedKeyBag;
  await keyBag.makeInternalValues(encryption);
  // pkijs writes the encrypted key as a BER constructed OCTET STRING; OpenSSL (and node-forge)
  // expect DER there.
  keyBag.encryptedData = new asn1js.OctetString({ valueHex: keyBag.encryptedData.getValue() });
  await authenticatedSafe.makeInternalValues({ safeContents: [encryption, {}] });
  await pfx.makeInternalValues({
    password,
    iterations: 2048,
    pbkdf2HashAlgorithm: { name: 'SHA-256' },
    hmacHashAlgorithm: 'SHA-256',
  });
  return Buffer.from(pfx.toSchema().toBER(false));
}

function exportLegacy(
  key: KeyObject,
  certificates: readonly X509Certificate[],
  passphrase: string,
): Buffer {
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error('legacy PKCS#12 fixtures are made for RSA keys only');
  const forgeKey = forge.pki.privateKeyFromPem(
    key.export({ type: 'pkcs8', format: 'pem' }) as string,
  ) as forge.pki.rsa.PrivateKey;
  const forgeCerts = certificates.map((c) => forge.pki.certificateFromPem(c.toString()));
  const asn1 = forge.pkcs12.toPkcs12Asn1(forgeKey, forgeCerts, passphrase, {
    algorithm: '3des',
    count: 2048,
  });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/** A PFX holding `key` and `certificates`, encrypted under `passphrase`. */
export async function exportPkcs12(
  key: KeyObject,
  certificates: readonly X509Certificate[],
  passphrase: string,
  encryption: 'modern' | 'legacy' = 'modern',
): Promise<Buffer> {
  return encryption === 'modern'
    ? exportModern(key, certificates, passphrase)
    : exportLegacy(key, certificates, passphrase);
}
