import type { Configuration } from 'oidc-provider';

/**
 * What the bundled provider offers the relying party's sessions (issue: sessions that live):
 *
 * - refresh tokens for the client whenever it may use the refresh_token grant (no `offline_access`
 *   needed, as with Keycloak; bound to the provider session, so they die when the user signs out
 *   here), rotated on every use: a refresh token used twice is refused and, as oidc-provider does,
 *   revokes the whole grant (RFC 9700 §4.14.2). Not under `PROVIDER_PROFILE=fapi2`: FAPI 2.0
 *   §5.3.2.1 says an authorization server "shall not use refresh token rotation except in
 *   extraordinary circumstances" (its clients are confidential and their access tokens
 *   sender-constrained, RFC 9700 §4.14.2's other protection);
 * - token revocation (RFC 7009), for the client's own tokens;
 * - user access tokens that live `PROVIDER_ACCESS_TOKEN_TTL` seconds (default 300), so that a
 *   person or a test can watch a refresh happen. The user's token for the API is an RFC 9068 JWT
 *   (./api-resource.ts: a refresh grant with `resource=API_RESOURCE` yields it); the sign-in's
 *   own access token, for UserInfo, stays opaque.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc7009
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */

export const DEFAULT_USER_ACCESS_TOKEN_TTL_SECONDS = 300;

/**
 * `PROVIDER_ACCESS_TOKEN_TTL` from the environment: whole seconds, 5 to 3600.
 *
 * @throws {Error} naming the variable.
 */
export function userAccessTokenTtlFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): number {
  const raw = env.PROVIDER_ACCESS_TOKEN_TTL?.trim();
  if (!raw) return DEFAULT_USER_ACCESS_TOKEN_TTL_SECONDS;
  const ttl = Number(raw);
  if (!Number.isSafeInteger(ttl) || ttl < 5 || ttl > 3600)
    throw new Error(
      `PROVIDER_ACCESS_TOKEN_TTL: "${raw}" must be a whole number of seconds from 5 to 3600`,
    );
  return ttl;
}

/**
 * The configuration members for refresh, rotation and revocation.
 *
 * @param clientIds the relying parties that get refresh tokens (the bundled provider has one; the
 *   benchmark's provider one per relying party it measures).
 * @param rotate whether refresh tokens rotate on use (not under FAPI 2.0, §5.3.2.1).
 * @see https://openid.net/specs/fapi-security-profile-2_0-final.html#section-5.3.2.1
 */
export function userSessionConfiguration(
  clientIds: readonly string[],
  rotate = true,
): Pick<Configuration, 'issueRefreshToken' | 'rotateRefreshToken'> & {
  revocation: NonNullable<NonNullable<Configuration['features']>['revocation']>;
} {
  return {
    issueRefreshToken: (_ctx, client) =>
      clientIds.includes(client.clientId) && client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: rotate,
    revocation: {
      enabled: true,
      // A client revokes its own tokens only.
      allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
    },
  };
}
