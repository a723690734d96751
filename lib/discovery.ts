import * as client from 'openid-client';

import { backChannelFetch, withDeadline } from './back-channel';
import {
  createClientAuthentication,
  describeAlgIncompatibility,
  findAudienceOriginProblem,
} from './client-assertion';
import { configureClockSkew, getClockSkew, hasClockSample } from './clock-skew';
import { getConfig, isLoopbackUrl, type AppConfig } from './config';
import { AuthError, ConfigError, type AuthErrorCode, type ConfigProblem } from './errors';
import { getClientKeySet, type ClientKey } from './keys';
import { describeError, log } from './log';
import { findProfileIncompatibilities } from './profile-checks';
import { processSlot } from './process-slot';
import { createProviderJwks, JWKS_UNAVAILABLE, type ProviderJwks } from './provider-jwks';

/**
 * The provider as this app knows it: discovery metadata, openid-client's Configuration with this
 * app's client authentication installed, and the provider's JWKS. Used by every part of the app
 * that talks to the provider (sign-in, machine to machine, the protected API, the proxy, the
 * scripts).
 *
 * Discovery metadata, the provider's JWKS and the imported signing key are loaded once per process
 * and reused, so a sign-in on a warm app costs one back-channel request (the token request) plus
 * UserInfo.
 */

export type ProviderContext = {
  /**
   * openid-client's Configuration, with this app's client authentication installed: every grant
   * or request made with it (code, refresh, client credentials, revocation, PAR) sends a freshly
   * signed client assertion from the current key set.
   */
  readonly config: client.Configuration;
  readonly metadata: Readonly<client.ServerMetadata>;
  readonly jwks: ProviderJwks;
  /**
   * The client authentication installed in `config`, and the client metadata openid-client calls
   * it with: for an assertion signed ahead of its request (lib/sign-in.ts, the callback).
   */
  readonly clientAuthentication?:
    | { readonly auth: client.ClientAuth; readonly clientMetadata: client.ClientMetadata }
    | undefined;
};

const pending = processSlot<Promise<ProviderContext>>('provider');
const discovered = processSlot<Readonly<client.ServerMetadata>>('provider-metadata');
/** The last failed discovery (kept as data: the error's class belongs to the bundle that threw it). */
const lastFailure = processSlot<{ at: number; code: AuthErrorCode; detail: string }>(
  'provider-failure',
);

/** After a failed discovery, how long requests get that failure before discovery is tried again. */
export const DISCOVERY_RETRY_MS = 2000;

/**
 * Checks, before any request is sent, that the provider supports how this client authenticates.
 *
 * @returns the setting at fault, or undefined.
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2 (token_endpoint_auth_* metadata)
 */
export function findIncompatibility(
  metadata: client.ServerMetadata,
  signing: ClientKey,
  idTokenAlg: string,
): ConfigProblem | undefined {
  const methods = metadata.token_endpoint_auth_methods_supported;
  if (Array.isArray(methods) && !methods.includes('private_key_jwt')) {
    return {
      variable: 'OIDC_ISSUER',
      message:
        `the provider does not support private_key_jwt ` +
        `(token_endpoint_auth_methods_supported: ${methods.join(', ')})`,
      fix: 'enable private_key_jwt client authentication at the provider',
    };
  }
  // Every ID token would be refused: better to say so now than on each sign-in.
  const idTokenAlgs = metadata.id_token_signing_alg_values_supported;
  if (Array.isArray(idTokenAlgs) && !idTokenAlgs.includes(idTokenAlg)) {
    return {
      variable: 'OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG',
      message:
        `ID tokens are accepted only when signed with ${idTokenAlg}, but the provider ` +
        `signs with ${idTokenAlgs.join(', ')} (id_token_signing_alg_values_supported)`,
      fix: 'set OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG to the algorithm registered for this client at the provider',
    };
  }
  return describeAlgIncompatibility(
    signing,
    metadata.token_endpoint_auth_signing_alg_values_supported,
  );
}

/**
 * Metadata members naming an endpoint the app calls, or sends the browser to, with something
 * secret: credentials, codes, client assertions, tokens, the keys that vouch for ID tokens.
 * (`end_session_endpoint` is left to logout, which never sends the ID token to a plain-http one.)
 */
const ENDPOINT_MEMBERS = [
  'authorization_endpoint',
  'token_endpoint',
  'userinfo_endpoint',
  'jwks_uri',
  'pushed_authorization_request_endpoint',
  'revocation_endpoint',
  'introspection_endpoint',
] as const;

/**
 * The first endpoint of the metadata that is not https (or, for a loopback issuer, http on a
 * loopback host), or undefined.
 *
 * MUST: the loopback exception is the issuer's, for development: it does not let the discovery
 * document send the app, or the browser, to another host in clear text. openid-client's
 * allowInsecureRequests, which a loopback issuer needs, would take any http endpoint, and jose
 * fetches the jwks_uri without openid-client's checks at all.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1 (TLS for the authorization endpoint)
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2 (TLS for the token endpoint)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo (§5.3: TLS)
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata
 */
function findCleartextEndpoint(
  metadata: Readonly<client.ServerMetadata>,
  loopbackIssuer: boolean,
): { member: string; value: string } | undefined {
  for (const member of ENDPOINT_MEMBERS) {
    const value: unknown = metadata[member];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !URL.canParse(value)) return { member, value: String(value) };
    const url = new URL(value);
    const allowed =
      url.protocol === 'https:' ||
      (loopbackIssuer && url.protocol === 'http:' && isLoopbackUrl(url));
    if (!allowed) return { member, value };
  }
  return undefined;
}

/** The issuer a provider declared when openid-client refused it for not matching OIDC_ISSUER. */
export function discoveredIssuerMismatch(err: unknown): string | undefined {
  if (!(err instanceof client.ClientError) || err.code !== 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED')
    return undefined;
  const cause = err.cause as { attribute?: unknown; body?: { issuer?: unknown } } | undefined;
  return cause?.attribute === 'issuer' && typeof cause.body?.issuer === 'string'
    ? cause.body.issuer
    : undefined;
}

async function discover(settings: AppConfig): Promise<ProviderContext> {
  const keys = await getClientKeySet();
  // Plain http only for a loopback issuer (lib/config.ts refuses it elsewhere).
  const insecure = settings.issuer.startsWith('http:');
  const execute = insecure ? [client.allowInsecureRequests] : [];
  let config: client.Configuration;
  const auth = createClientAuthentication(
    settings.assertion,
    { keys: getClientKeySet, clockSkew: getClockSkew },
    settings.protocol.assertionAlgs,
  );
  try {
    config = await client.discovery(
      new URL(settings.issuer),
      settings.clientId,
      {
        redirect_uris: [settings.redirectUri],
        token_endpoint_auth_method: 'private_key_jwt',
        id_token_signed_response_alg: settings.idTokenSignedResponseAlg,
      },
      auth,
      {
        execute,
        timeout: settings.httpTimeoutMs / 1000,
        [client.customFetch]: withDeadline(backChannelFetch, settings.httpTimeoutMs),
      },
    );
    // The deadline of every later request (token, UserInfo, refresh, revocation, PAR) is the
    // fetch's own (withDeadline: its timer ends with the exchange); openid-client's timeout
    // would add an AbortSignal.timeout per request, whose timer keeps the request that caused it
    // in memory until it fires. 0 means none (discovery itself, above, kept it).
    config.timeout = 0;
  } catch (err) {
    const declared = discoveredIssuerMismatch(err);
    if (declared !== undefined) {
      throw new ConfigError([
        {
          variable: 'OIDC_ISSUER',
          message: `the provider at ${settings.issuer} declares its issuer as "${declared}"`,
          fix:
            'set OIDC_ISSUER to exactly the issuer the provider declares (scheme, host, ' +
            'path and trailing slash included)',
        },
      ]);
    }
    throw new AuthError(isNetworkError(err) ? 'provider_unreachable' : 'discovery_failed', {
      detail: `discovery of ${settings.issuer} failed: ${describeError(err)}`,
      cause: err,
    });
  }
  const metadata = config.serverMetadata();
  const incompatible = findIncompatibility(
    metadata,
    keys.signing,
    settings.idTokenSignedResponseAlg,
  );
  if (incompatible) throw new ConfigError([incompatible]);
  const audienceProblem = findAudienceOriginProblem(settings.assertion.audience, metadata);
  if (audienceProblem) throw new ConfigError([audienceProblem]);
  const profileProblems = findProfileIncompatibilities(metadata, keys.signing, settings.protocol);
  if (profileProblems.length > 0) throw new ConfigError(profileProblems);
  if (!metadata.jwks_uri)
    throw new AuthError('discovery_failed', { detail: 'the provider metadata has no jwks_uri' });
  const cleartext = findCleartextEndpoint(metadata, insecure);
  if (cleartext) {
    throw new AuthError('discovery_failed', {
      detail:
        `the provider's ${cleartext.member} is not an https URL${insecure ? ' (http only on loopback)' : ''}: ` +
        cleartext.value.slice(0, 200),
    });
  }
  log.info('provider discovered', {
    issuer: metadata.issuer,
    token_endpoint: metadata.token_endpoint,
  });
  discovered.set(metadata);
  configureClockSkew({
    maxSeconds: settings.clockSkewMaxSeconds,
    tokenEndpoint: metadata.token_endpoint,
  });
  if (!hasClockSample()) await probeProviderClock(metadata.token_endpoint, settings.httpTimeoutMs);
  return {
    config,
    metadata,
    jwks: createProviderJwks(metadata.jwks_uri, settings.httpTimeoutMs),
    clientAuthentication: { auth, clientMetadata: config.clientMetadata() },
  };
}

/**
 * Learns the provider's clock before the first assertion is signed: an empty POST to the token
 * endpoint (no grant, no credentials; the provider answers 400 or 401, with its `Date`). Token
 * requests keep the estimate current afterwards. Without it, a machine whose clock is off would
 * see its first token request refused before the app could learn anything.
 *
 * Failures are ignored: the sign-in itself reports an unreachable provider.
 */
async function probeProviderClock(tokenEndpoint: string | undefined, timeoutMs: number) {
  if (!tokenEndpoint) return;
  try {
    const response = await backChannelFetch(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams(),
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
  } catch {
    // logged by backChannelFetch; nothing learned
  }
}

/**
 * The provider's configuration, discovered on first use and cached. A failed discovery is not
 * kept: after {@link DISCOVERY_RETRY_MS} the next request tries again (the provider may simply
 * have started later than the app).
 *
 * @throws {AuthError} `discovery_failed` or `provider_unreachable` (worth retrying).
 * @throws {ConfigError} when the provider contradicts the configuration (issuer, algorithms).
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 */
export function getProvider(): Promise<ProviderContext> {
  const existing = pending.get();
  if (existing) return existing;
  // While the provider is failing, ask again at most every DISCOVERY_RETRY_MS: otherwise every
  // request (a junk bearer token included) would cost a discovery request and its timeout.
  const failure = lastFailure.get();
  if (failure && Date.now() - failure.at < DISCOVERY_RETRY_MS) {
    return Promise.reject(
      new AuthError(failure.code, {
        detail: `${failure.detail} (not retried for ${DISCOVERY_RETRY_MS} ms)`,
      }),
    );
  }
  const attempt = discover(getConfig());
  pending.set(attempt);
  attempt.then(
    () => lastFailure.set(undefined),
    (err: unknown) => {
      if (pending.get() === attempt) pending.set(undefined);
      // Only what is worth retrying; a ConfigError is the configuration's to fix.
      if (err instanceof AuthError)
        lastFailure.set({ at: Date.now(), code: err.code, detail: err.detail ?? err.message });
    },
  );
  return attempt;
}

/** The provider's metadata once discovery has succeeded in this process; never fetches. */
export function getDiscoveredMetadata(): Readonly<client.ServerMetadata> | undefined {
  return discovered.get();
}

/** Socket-level failures, as Node.js (system errors) and undici (`UND_ERR_*`) code them. */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

function isNetworkFailure(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  // fetch's TypeError ("fetch failed", "terminated") is told apart by its cause's code, not its
  // message: the loop in isNetworkError reaches the cause.
  return (
    (typeof code === 'string' && (NETWORK_ERROR_CODES.has(code) || code.startsWith('UND_ERR_'))) ||
    code === 'OAUTH_TIMEOUT' ||
    code === 'OAUTH_ABORT' ||
    code === JWKS_UNAVAILABLE ||
    (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
  );
}

/**
 * The provider could not be reached or did not answer in time: the error or one of its causes
 * (a timeout while reading a body surfaces as a parse error caused by the abort).
 */
export function isNetworkError(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (isNetworkFailure(current)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The configuration problem behind a failed request, if any: the client authentication refuses
 * to sign what the provider would reject (openid-client wraps the error as a ClientError's cause).
 */
export function findConfigError(err: unknown): ConfigError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof ConfigError) return current;
    current = current.cause;
  }
  return undefined;
}
