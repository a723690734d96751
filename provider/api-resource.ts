import {
  errors,
  type Configuration,
  type KoaContextWithOIDC,
  type ResourceServer,
} from 'oidc-provider';

/** One scope token (RFC 6749 §3.3): printable ASCII without space, double quote or backslash. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * The bundled provider's one API (resource server) and the client-credentials grant that gets
 * tokens for it: machine-to-machine access, where the client authenticates with its signed
 * assertion and no user is involved.
 *
 * Access tokens for the API are JWTs in the RFC 9068 profile (header `typ: at+jwt`, claims `iss`,
 * `sub`, `aud`, `client_id`, `scope`, `jti`, `iat`, `exp`), signed with the provider's key, for
 * one audience: the API's resource indicator (RFC 8707). Everything else the provider issues keeps
 * its default (opaque access tokens for UserInfo after sign-in).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4 (client credentials grant)
 * @see https://www.rfc-editor.org/rfc/rfc8707 (resource indicators)
 * @see https://www.rfc-editor.org/rfc/rfc9068 (JWT profile for access tokens)
 */

export type ApiResourceSettings = {
  /** The API's resource indicator: an absolute URI without fragment, the `aud` of its tokens. */
  readonly resource: string;
  /** The one scope the API defines. */
  readonly scope: string;
  /** Lifetime of its access tokens, seconds. */
  readonly accessTokenTtlSeconds: number;
};

/** Short-lived: a leaked bearer token is useful for minutes at most. */
export const DEFAULT_API_TOKEN_TTL_SECONDS = 300;
export const DEFAULT_API_SCOPE = 'api1';

/**
 * The API settings from the environment. `API_RESOURCE` and `API_SCOPE` are the same variables
 * the app reads, so one `.env` keeps both sides consistent; the defaults agree as well
 * (`APP_URL/api`, `api1`).
 *
 * @throws {Error} naming the variable at fault.
 */
export function apiResourceSettingsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  appUrl: string,
): ApiResourceSettings {
  // The app derives its default from APP_URL's origin; so does this (same string, same aud).
  const resource = env.API_RESOURCE?.trim() || `${new URL(appUrl).origin}/api`;
  // RFC 8707 §2: an absolute URI, no fragment.
  if (!URL.canParse(resource) || resource.includes('#')) {
    throw new Error(`API_RESOURCE: "${resource}" must be an absolute URI without a fragment`);
  }
  const scope = env.API_SCOPE?.trim() || DEFAULT_API_SCOPE;
  if (!SCOPE_TOKEN.test(scope))
    throw new Error(`API_SCOPE: "${scope}" must be one scope token (RFC 6749 §3.3)`);
  const ttlRaw = env.PROVIDER_API_TOKEN_TTL?.trim();
  const accessTokenTtlSeconds = ttlRaw ? Number(ttlRaw) : DEFAULT_API_TOKEN_TTL_SECONDS;
  if (
    !Number.isSafeInteger(accessTokenTtlSeconds) ||
    accessTokenTtlSeconds < 10 ||
    accessTokenTtlSeconds > 3600
  ) {
    throw new Error(
      `PROVIDER_API_TOKEN_TTL: "${ttlRaw}" must be a whole number of seconds from 10 to 3600`,
    );
  }
  return { resource, scope, accessTokenTtlSeconds };
}

/** How the API's access tokens are issued. */
export function describeApiResourceServer(api: ApiResourceSettings): ResourceServer {
  return {
    scope: api.scope,
    audience: api.resource,
    accessTokenTTL: api.accessTokenTtlSeconds,
    accessTokenFormat: 'jwt',
    // RS256: the provider's signing key, and the algorithm RFC 9068 §2.1 requires support for.
    jwt: { sign: { alg: 'RS256' } },
  };
}

function isClientCredentialsRequest(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
}

/**
 * The `features` entries for machine-to-machine access: the client-credentials grant, and resource
 * indicators that know exactly one API, for exactly the demo client.
 *
 * A client-credentials request without a `resource` parameter gets the API as its default
 * resource, so a plain `grant_type=client_credentials&scope=api1` also yields an API token. Other
 * requests get no default: sign-in keeps its opaque UserInfo access token.
 */
export function buildApiResourceFeatures(
  api: ApiResourceSettings,
  clientId: string,
): NonNullable<Configuration['features']> {
  return {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx) => (isClientCredentialsRequest(ctx) ? api.resource : undefined),
      // MUST: only the registered API, only for the registered client (oidc-provider's own advice:
      // accept pre-registered resource values only). Anything else is invalid_target.
      getResourceServerInfo: (_ctx, resourceIndicator, client) => {
        if (resourceIndicator !== api.resource || client.clientId !== clientId) {
          throw new errors.InvalidTarget(
            'unknown resource indicator or not allowed for this client',
          );
        }
        return describeApiResourceServer(api);
      },
      useGrantedResource: () => false,
    },
  };
}
