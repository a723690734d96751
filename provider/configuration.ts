import type { ClientMetadata, Configuration, JWK, SigningAlgorithm } from 'oidc-provider';

import { isLoopbackUrl } from './loopback';
import { findAccount } from './accounts';
import { buildApiResourceFeatures, type ApiResourceSettings } from './api-resource';
import {
  ASSERTION_CLOCK_TOLERANCE_SECONDS,
  strictClientAssertionCheck,
  type AssertionPolicy,
} from './client-assertion-policy';
import { clientKeyMetadata, type ClientRegistration } from './client-registration';
import type { RefusalStyle } from './refusal-style';
import {
  fapi2ClientMetadata,
  fapi2Configuration,
  fapi2SigningKeys,
  type Fapi2Settings,
} from './fapi2';
import { userSessionConfiguration } from './user-sessions';
import { errorPage, loggedOutPage, logoutPage } from './views';

/**
 * Configuration of the bundled OpenID Provider: one confidential client that authenticates with
 * private_key_jwt, demo accounts, PKCE required, the provider's own login and consent pages, and
 * one API the client reaches with the client-credentials grant (./api-resource.ts), and
 * strict RFC 10070 validation of client assertions (provider/client-assertion-policy.ts).
 */

export type { ClientRegistration } from './client-registration';

export type ProviderSettings = {
  readonly issuer: string;
  /** The relying party's base URL (redirect URIs derive from it). */
  readonly appUrl: string;
  readonly clientId: string;
  readonly registration: ClientRegistration;
  /** Which `aud` values a client assertion may carry (RFC 10070: the issuer only). */
  readonly assertionAudience: AssertionPolicy['audience'];
  /** What the provider does with the assertion's `typ` (default `optional`). */
  readonly assertionTyp?: AssertionPolicy['typ'];
  /** `lenient` switches this provider's own assertion checks off (default `strict`). */
  readonly assertionChecks?: 'strict' | 'lenient' | undefined;
  /**
   * The algorithms accepted on client assertions (`token_endpoint_auth_signing_alg_values_supported`),
   * default RS256, PS256, ES256, EdDSA, Ed25519.
   */
  readonly clientAuthAlgs?: readonly ClientAuthSigningAlg[] | undefined;
  /** How refused client authentications are answered (provider/refusal-style.ts). */
  readonly refusalStyle?: RefusalStyle | undefined;
  /** The provider's own private signing keys (JWKS). */
  readonly signingKeys: { keys: JWK[] };
  /** Keys for the provider's cookies. */
  readonly cookieKeys: string[];
  /**
   * Lets the provider reach a client on a loopback host (GET its jwks_uri, POST Logout Tokens to
   * its backchannel_logout_uri), which oidc-provider's SSRF guard refuses. Development only: the
   * demo app runs on localhost.
   */
  readonly allowLoopbackFetch: boolean;
  /** The API whose JWT access tokens the client gets with the client-credentials grant. */
  readonly api: ApiResourceSettings;
  /**
   * The client JWKS from jwks_uri is kept for max(this, its max-age) seconds: 60 is
   * oidc-provider's own rule (./client-jwks-cache.ts).
   */
  readonly clientJwksCacheFloorSeconds: number;
  /** `PROVIDER_PROFILE=fapi2`: oidc-provider's FAPI 2.0 mode, PAR and DPoP required (./fapi2.ts). */
  readonly fapi2?: Fapi2Settings | undefined;
  /** Lifetime of user access tokens, seconds (PROVIDER_ACCESS_TOKEN_TTL). */
  readonly userAccessTokenTtlSeconds: number;
};

/** Who wants to see the provider's outbound responses (the client JWKS cache). */
export type FetchObserver = (url: URL, response: Response) => void;

/** The default `token_endpoint_auth_signing_alg_values_supported`. */
export const DEFAULT_CLIENT_AUTH_ALGS = [
  'RS256',
  'PS256',
  'ES256',
  'EdDSA',
  'Ed25519',
] as const satisfies readonly SigningAlgorithm[];
export type ClientAuthSigningAlg = (typeof DEFAULT_CLIENT_AUTH_ALGS)[number];
const PLAIN: Fapi2Settings = { profile: 'plain', dpopNonce: false };

function requestUrl(input: string | URL | Request): URL {
  return new URL(input instanceof Request ? input.url : input);
}

/** The demo client, as registered at the provider. */
export function demoClient(settings: ProviderSettings): ClientMetadata {
  return {
    client_id: settings.clientId,
    client_name: 'private_key_jwt demo app',
    token_endpoint_auth_method: 'private_key_jwt',
    redirect_uris: [`${settings.appUrl}/auth/callback`],
    post_logout_redirect_uris: [`${settings.appUrl}/`],
    // OpenID Connect Back-Channel Logout 1.0 §2.2: where the provider POSTs a Logout Token when
    // the user's session with it ends; with session_required, Logout Tokens and ID tokens carry
    // `sid`, so the app can end exactly the session signed in through that provider session.
    backchannel_logout_uri: `${settings.appUrl}/auth/backchannel-logout`,
    backchannel_logout_session_required: true,
    // client_credentials: the same client, authenticated by the same assertion, calls the API as itself.
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    scope: 'openid profile email offline_access',
    ...clientKeyMetadata(settings.registration),
    ...fapi2ClientMetadata(settings.fapi2 ?? PLAIN),
  };
}

/**
 * How client assertions are validated: strictly, per RFC 10070 and the registration mode; or,
 * `lenient`, by oidc-provider's own default hook alone (which keeps its FAPI 2.0 `aud` check).
 */
export function clientAssertionValidation(
  settings: ProviderSettings,
): Pick<Configuration, 'assertJwtClientAuthClaimsAndHeader' | 'clockTolerance'> {
  const { registration } = settings;
  if (settings.assertionChecks === 'lenient') {
    return { clockTolerance: ASSERTION_CLOCK_TOLERANCE_SECONDS };
  }
  return {
    clockTolerance: ASSERTION_CLOCK_TOLERANCE_SECONDS,
    assertJwtClientAuthClaimsAndHeader: strictClientAssertionCheck({
      audience: settings.assertionAudience,
      typ: settings.assertionTyp,
      certificates: registration.mode === 'certificate' ? registration.certificates : undefined,
    }),
  };
}

export function buildConfiguration(
  settings: ProviderSettings,
  observeFetch: FetchObserver = () => {},
): Configuration {
  const profile = fapi2Configuration(settings.fapi2 ?? PLAIN);
  const { revocation, ...refresh } = userSessionConfiguration(
    [settings.clientId],
    settings.fapi2?.profile !== 'fapi2',
  );
  return {
    ...refresh,
    clients: [demoClient(settings)],
    findAccount,
    jwks: { keys: fapi2SigningKeys(settings.signingKeys.keys, settings.fapi2 ?? PLAIN) },
    cookies: { keys: settings.cookieKeys },
    // Only what the demo client uses: a confidential client proving itself with a signed JWT.
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: settings.clientAuthAlgs
      ? { ...profile.enabledJWA, clientAuthSigningAlgValues: [...settings.clientAuthAlgs] }
      : profile.enabledJWA,
    ...clientAssertionValidation(settings),
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale'],
      email: ['email', 'email_verified'],
    },
    // MUST: PKCE for every authorization request, confidential clients included (RFC 9700 §2.1.1).
    pkce: { required: () => true },
    // Lifetimes, stated rather than left to oidc-provider's defaults: short-lived tokens, a
    // working day of provider session.
    ttl: {
      AuthorizationCode: 60,
      // Every user access token, the API's JWT and the sign-in's opaque one alike.
      AccessToken: settings.userAccessTokenTtlSeconds,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 5 * 60,
      IdToken: 10 * 60,
      RefreshToken: 24 * 60 * 60,
      Interaction: 10 * 60,
      Session: 8 * 60 * 60,
      Grant: 8 * 60 * 60,
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    features: {
      ...profile.features,
      devInteractions: { enabled: false },
      ...buildApiResourceFeatures(settings.api, settings.clientId),
      revocation,
      // Signing out at the provider (its end_session_endpoint) POSTs a Logout Token to the
      // backchannel_logout_uri of every client of that session (typ logout+jwt, exp = iat + 120 s).
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          ctx.body = logoutPage(form, ctx.host);
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.body = loggedOutPage(ctx.oidc.client?.clientName);
        },
      },
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(
        String(out.error),
        out.error_description === undefined ? undefined : String(out.error_description),
      );
    },
    // Every outbound request of oidc-provider goes through this hook (its fetch helper adds the
    // SSRF-guarding dispatcher, then calls it): the client's jwks_uri and the back-channel Logout
    // Token POSTs alike.
    fetch: async (input, init) => {
      const url = requestUrl(input);
      // Logged so that developers see when the provider (re)fetches the client's jwks_uri or
      // delivers a Logout Token (the URL only: the body holds the token).
      console.log(`[op] outbound ${init?.method ?? 'GET'} ${url.href}`);
      let response: Response;
      if (settings.allowLoopbackFetch && isLoopbackUrl(url)) {
        // Deliberate, development-only exception to oidc-provider's SSRF guard: drop its
        // special-use-address dispatcher for loopback targets (the demo app's jwks_uri and
        // backchannel_logout_uri). MUST: no redirect is followed here: without the guard's
        // dispatcher a redirect would take the request to any address (a private one, another
        // loopback port), and the exception is for the loopback URL named only.
        const { dispatcher: _guard, ...rest } = (init ?? {}) as RequestInit & {
          dispatcher?: unknown;
        };
        response = await fetch(input, { ...rest, redirect: 'manual' });
      } else {
        response = await fetch(input, init);
      }
      observeFetch(url, response);
      return response;
    },
  };
}
