import * as client from 'openid-client';

import type { AppConfig, AssertionAudience } from './config';
import type { ClientKey } from './keys';

/**
 * The client assertion: the signed JWT this app authenticates with instead of a client secret.
 *
 * openid-client builds and signs it (`PrivateKeyJwt`): `iss` = `sub` = client_id, a random `jti`
 * of 256 bits, `iat`, `nbf`, and `aud` = the issuer identifier. Its `modifyAssertion` hook adds
 * what RFC 10070 asks for on top (the explicit `typ`), applies the configured lifetime, and, only
 * when explicitly configured for a legacy provider, another audience. A fresh assertion is signed
 * for every request, retries included, because openid-client calls the client authentication
 * function once per request.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3 (JWT format and processing)
 * @see https://www.rfc-editor.org/rfc/rfc10070 (audience = issuer identifier, explicit typing)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#ClientAuthentication (private_key_jwt)
 */

/** RFC 10070 explicit type of client-authentication JWTs. */
export const CLIENT_ASSERTION_TYP = 'client-authentication+jwt';

/** `client_assertion_type` for a JWT bearer client assertion (RFC 7523 §2.2). */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The provider metadata the audience depends on. */
export type AudienceMetadata = { readonly issuer: string; readonly token_endpoint?: string | undefined };

/**
 * The `aud` value for the assertion.
 *
 * MUST: the default is the issuer identifier as one string. RFC 10070 forbids the token endpoint
 * URL as audience because a malicious provider can publish another provider's token endpoint as
 * its own and replay what the client signed there; only the issuer is bound by discovery.
 *
 * @see https://www.rfc-editor.org/rfc/rfc10070
 */
export function resolveAudience(audience: AssertionAudience, metadata: AudienceMetadata): string {
  switch (audience.mode) {
    case 'issuer':
      return metadata.issuer;
    case 'token_endpoint':
      if (!metadata.token_endpoint) throw new TypeError('the provider metadata has no token_endpoint');
      return metadata.token_endpoint;
    case 'url':
      return audience.url;
  }
}

/**
 * openid-client client authentication that signs a fresh assertion with `key` for every request.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2 (using JWTs for client authentication)
 */
export function createClientAuthentication(key: ClientKey, settings: AppConfig['assertion']): client.ClientAuth {
  return (as, clientMetadata, body, headers) => {
    const sign = client.PrivateKeyJwt(
      { key: key.privateKey, kid: key.kid },
      {
        [client.modifyAssertion]: (header, payload) => {
          if (settings.typ) header.typ = CLIENT_ASSERTION_TYP;
          // openid-client names Ed25519 signatures "Ed25519" (RFC 9864); the JWK and most
          // providers' metadata still say "EdDSA" (RFC 8037), which the key file declares.
          header.alg = key.alg;
          payload.aud = resolveAudience(settings.audience, as);
          // MUST: short-lived. openid-client sets iat = nbf = now (corrected by clockSkew).
          payload.exp = Number(payload.iat) + settings.lifetimeSeconds;
        },
      },
    );
    return sign(as, clientMetadata, body, headers);
  };
}
