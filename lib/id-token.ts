/**
 * ID token checks this app adds to openid-client's.
 *
 * openid-client (oauth4webapi) validates `iss`, `exp`, `iat`, `nbf`, `nonce`, the presence of
 * `sub`, that `aud` contains the client_id, and that a multi-valued `aud` comes with an `azp` equal
 * to the client_id. It accepts an `aud` array with other values as long as `azp` names this client.
 * OpenID Connect Core is stricter about audiences the client does not trust, and this client
 * trusts no audience but itself.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 */

import { isNetworkError } from './discovery';
import { AuthError } from './errors';
import { describeError } from './log';
import type { JWTVerifyOptions } from 'jose';

import { PROVIDER_JWT_CLOCK_TOLERANCE_SECONDS, type ProviderJwks } from './provider-jwks';

export type AudienceClaims = { readonly aud?: unknown; readonly azp?: unknown };

function describeValue(value: unknown): string {
  return JSON.stringify(value)?.slice(0, 100) ?? String(value);
}

/**
 * What is wrong with the ID token's audience for this client, or undefined.
 *
 * MUST: reject an ID token that lists audiences the client does not trust (§3.1.3.7 rule 3): such
 * a token was also issued for someone else, who could replay it here. When `azp` is present it
 * must be this client (rule 5), whatever `aud` holds.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation (rules 3 to 5)
 */
export function findAudienceProblem(claims: AudienceClaims, clientId: string): string | undefined {
  const audiences: unknown[] = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(clientId))
    return `aud ${describeValue(claims.aud)} does not list this client`;
  const untrusted = audiences.filter((audience) => audience !== clientId);
  if (untrusted.length > 0)
    return `aud also lists audiences this client does not trust: ${describeValue(untrusted)}`;
  if (claims.azp !== undefined && claims.azp !== clientId)
    return `azp ${describeValue(claims.azp)} is not this client`;
  return undefined;
}

/**
 * Verifies the signature of an ID token from the token endpoint (a sign-in's, a refresh's) against
 * the provider's JWKS, with the one algorithm this app accepts for ID tokens. openid-client checks
 * such a token's claims but not its signature unless asked; this app does it with its own JWKS
 * cache, so that a provider key rotated moments ago is picked up at once.
 *
 * @param what names the token in the error's detail ("ID token", "refreshed ID token").
 * @throws {AuthError} `id_token_invalid`, or `provider_unreachable` when the JWKS cannot be read.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation (rule 6)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#RefreshTokenResponse
 */
export async function verifyIdTokenSignature(
  jwks: ProviderJwks,
  idToken: string,
  alg: string,
  what: string,
): Promise<void> {
  await verifyProviderJwt(
    jwks,
    idToken,
    { algorithms: [alg] },
    'id_token_invalid',
    `${what} signature`,
  );
}

/**
 * Verifies a JWT the provider sent over the back channel (an ID token, a signed UserInfo response)
 * against its JWKS, with the tolerance openid-client applies to the provider's times: the keys
 * that cannot be obtained are `provider_unreachable`, a JWT that does not verify is `refused`.
 *
 * @param refusal the detail's prefix for a JWT that does not verify.
 * @throws {AuthError} `refused`, or `provider_unreachable` when the JWKS cannot be read.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation (rule 6)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfoResponse (signed)
 */
export async function verifyProviderJwt(
  jwks: ProviderJwks,
  jwt: string,
  options: Omit<JWTVerifyOptions, 'clockTolerance'>,
  refused: 'id_token_invalid' | 'userinfo_invalid',
  refusal: string,
): Promise<void> {
  try {
    // A provider signing with its own now, a second ahead of this machine, must not be refused.
    await jwks.verify(
      jwt,
      { ...options, clockTolerance: PROVIDER_JWT_CLOCK_TOLERANCE_SECONDS },
      true,
    );
  } catch (err) {
    throw isNetworkError(err)
      ? new AuthError('provider_unreachable', {
          detail: `fetching the provider's JWKS failed: ${describeError(err)}`,
          cause: err,
        })
      : new AuthError(refused, { detail: `${refusal}: ${describeError(err)}`, cause: err });
  }
}
