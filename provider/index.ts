import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, resolve } from 'node:path';

import nextEnv from '@next/env';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import Provider, { type JWK } from 'oidc-provider';

import { isLoopbackUrl } from './loopback';
import { apiResourceSettingsFromEnv } from './api-resource';
import { exposeClientAuthFailures } from './client-auth-errors';
import {
  readCertificates,
  registerCertificate,
  type ClientRegistration,
  type RegisteredCertificate,
} from './client-registration';
import {
  ASSERTION_AUDIENCES,
  ASSERTION_TYP_POLICIES,
  type AssertionAudiencePolicy,
} from './client-assertion-policy';
import { ClientJwksCache, OIDC_PROVIDER_CLIENT_JWKS_FLOOR_SECONDS } from './client-jwks-cache';
import {
  buildConfiguration,
  DEFAULT_CLIENT_AUTH_ALGS,
  type ClientAuthSigningAlg,
  type ProviderSettings,
} from './configuration';
import { fapi2SettingsFromEnv } from './fapi2';
import { interactions } from './interactions';
import { REFUSAL_STYLES, refusalStyle } from './refusal-style';
import { installReplayDetection } from './replay-detection';
import { logTokenRequests } from './token-log';
import { userAccessTokenTtlFromEnv } from './user-sessions';

/**
 * Boot script of the bundled OpenID Provider: `tsx provider/index.ts`.
 *
 * Settings (all optional):
 *   PROVIDER_ISSUER               issuer and listen address   (http://localhost:4000)
 *   APP_URL                       the relying party's origin   (http://localhost:3000)
 *   PROVIDER_CLIENT_ID            the demo client's id         (client_using_jwt)
 *   PROVIDER_CLIENT_REGISTRATION  jwks_uri | jwks | certificate (jwks_uri)
 *   PROVIDER_CLIENT_JWKS_URI      the client's jwks_uri        (APP_URL/.well-known/jwks.json)
 *   PROVIDER_CLIENT_JWKS_FILE     public JWKS file, for jwks   (keys/dev-client.public.jwks.json)
 *   PROVIDER_CLIENT_CERT_FILE     certificate(s), PEM, DER or base64, for certificate
 *                                                              (keys/dev-client.cert.pem)
 *   PROVIDER_ASSERTION_AUDIENCE   issuer | legacy | token_endpoint: aud the client assertion may
 *                                 carry; legacy also accepts the token endpoint URL, token_endpoint
 *                                 accepts only it (a pre-RFC 10070 provider)             (issuer)
 *   PROVIDER_ASSERTION_TYP        optional | required | forbidden: typ client-authentication+jwt
 *                                 may, must or must not be sent                        (optional)
 *   PROVIDER_ASSERTION_CHECKS     strict | lenient: lenient drops this provider's own assertion
 *                                 checks (a deliberately weak provider)                  (strict)
 *   PROVIDER_CLIENT_AUTH_ALGS     comma-separated token_endpoint_auth_signing_alg_values_supported
 *                                                               (RS256,PS256,ES256,EdDSA,Ed25519)
 *   PROVIDER_CLIENT_AUTH_FAILURE  explain | opaque | empty-403 | html-400: how a refused client
 *                                 authentication is answered (provider/refusal-style.ts) (explain)
 *   PROVIDER_SIGNING_KEYS_FILE    keeps the provider's signing keys across restarts (new per process)
 *   API_RESOURCE                  the API's resource indicator (APP_URL/api), shared with the app
 *   API_SCOPE                     the API's scope              (api1), shared with the app
 *   PROVIDER_API_TOKEN_TTL        API access token lifetime (client credentials), s (300)
 *   PROVIDER_ACCESS_TOKEN_TTL     user access token lifetime, s (300)
 *   PROVIDER_PROFILE              plain | fapi2: FAPI 2.0 mode, PAR and DPoP required (plain)
 *   PROVIDER_DPOP_NONCE           true: demand a server nonce in DPoP proofs      (false)
 *   PROVIDER_CLIENT_JWKS_CACHE_FLOOR  the client JWKS from jwks_uri is kept max(this, its max-age)
 *                                 seconds; 60 is oidc-provider's own rule              (60)
 */

async function generateSigningKeys(): Promise<{ keys: JWK[] }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return {
    keys: [
      { ...jwk, kid: await calculateJwkThumbprint(jwk, 'sha256'), alg: 'RS256', use: 'sig' } as JWK,
    ],
  };
}

/**
 * The provider's signing keys: kept in `file` when one is named (so that a restarted demo
 * provider still verifies the ID tokens it issued, e.g. as id_token_hint at logout), else new ones
 * for this process.
 */
async function loadSigningKeys(file: string | undefined): Promise<{ keys: JWK[] }> {
  if (!file) return generateSigningKeys();
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { keys: JWK[] };
  } catch {
    const keys = await generateSigningKeys();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
    return keys;
  }
}

async function registrationFrom(
  env: NodeJS.ProcessEnv,
  appUrl: string,
): Promise<ClientRegistration> {
  const mode = env.PROVIDER_CLIENT_REGISTRATION ?? 'jwks_uri';
  if (mode === 'jwks_uri') {
    return { mode, jwksUri: env.PROVIDER_CLIENT_JWKS_URI ?? `${appUrl}/.well-known/jwks.json` };
  }
  if (mode === 'jwks') {
    const file = resolve(env.PROVIDER_CLIENT_JWKS_FILE ?? 'keys/dev-client.public.jwks.json');
    return { mode, jwks: JSON.parse(readFileSync(file, 'utf8')) as { keys: JWK[] } };
  }
  if (mode === 'certificate') {
    const file = resolve(env.PROVIDER_CLIENT_CERT_FILE ?? 'keys/dev-client.cert.pem');
    let certificates: RegisteredCertificate[];
    try {
      certificates = await Promise.all(
        readCertificates(readFileSync(file)).map(registerCertificate),
      );
    } catch (err) {
      throw new Error(
        `PROVIDER_CLIENT_CERT_FILE: cannot read a certificate from ${file} ` +
          `(${(err as Error).message}); \`npm run keys -- generate --cert\` makes one`,
      );
    }
    return { mode, certificates };
  }
  throw new Error(
    `PROVIDER_CLIENT_REGISTRATION: unknown mode "${mode}" (use jwks_uri, jwks or certificate)`,
  );
}

function jwksCacheFloorFrom(env: NodeJS.ProcessEnv): number {
  const raw = env.PROVIDER_CLIENT_JWKS_CACHE_FLOOR;
  if (raw === undefined || raw === '') return OIDC_PROVIDER_CLIENT_JWKS_FLOOR_SECONDS;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 86_400) {
    throw new Error(
      `PROVIDER_CLIENT_JWKS_CACHE_FLOOR: "${raw}" is not a number of seconds from 0 to 86400`,
    );
  }
  return Number(raw);
}

/** One of `choices` from `env[name]`, or `fallback` when unset. */
function choiceFrom<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const value = env[name]?.trim() || fallback;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new Error(`${name}: unknown value "${value}" (use ${choices.join(', ')})`);
}

/** The algorithms PROVIDER_CLIENT_AUTH_ALGS names; undefined: the profile's own list. */
function clientAuthAlgsFrom(env: NodeJS.ProcessEnv): readonly ClientAuthSigningAlg[] | undefined {
  const raw = env.PROVIDER_CLIENT_AUTH_ALGS?.trim();
  if (!raw) return undefined;
  const names = raw.split(/[\s,]+/).filter(Boolean);
  const algs = DEFAULT_CLIENT_AUTH_ALGS.filter((alg) => names.includes(alg));
  if (algs.length !== names.length || algs.length === 0) {
    throw new Error(
      `PROVIDER_CLIENT_AUTH_ALGS: "${raw}" (use a comma-separated list of ${DEFAULT_CLIENT_AUTH_ALGS.join(', ')})`,
    );
  }
  return algs;
}

/** Settings from the environment. */
export async function settingsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProviderSettings> {
  const issuer = env.PROVIDER_ISSUER ?? 'http://localhost:4000';
  const appUrl = (env.APP_URL ?? 'http://localhost:3000').replace(/\/$/, '');
  return {
    issuer,
    appUrl,
    clientId: env.PROVIDER_CLIENT_ID ?? 'client_using_jwt',
    registration: await registrationFrom(env, appUrl),
    assertionAudience: choiceFrom<AssertionAudiencePolicy>(
      env,
      'PROVIDER_ASSERTION_AUDIENCE',
      ASSERTION_AUDIENCES,
      'issuer',
    ),
    assertionTyp: choiceFrom(env, 'PROVIDER_ASSERTION_TYP', ASSERTION_TYP_POLICIES, 'optional'),
    assertionChecks: choiceFrom(
      env,
      'PROVIDER_ASSERTION_CHECKS',
      ['strict', 'lenient'] as const,
      'strict',
    ),
    clientAuthAlgs: clientAuthAlgsFrom(env),
    refusalStyle: choiceFrom(env, 'PROVIDER_CLIENT_AUTH_FAILURE', REFUSAL_STYLES, 'explain'),
    signingKeys: await loadSigningKeys(env.PROVIDER_SIGNING_KEYS_FILE),
    cookieKeys: [randomBytes(32).toString('base64url')],
    // Only a provider that itself lives on loopback may fetch from loopback.
    allowLoopbackFetch: isLoopbackUrl(new URL(issuer)) && env.NODE_ENV !== 'production',
    api: apiResourceSettingsFromEnv(env, appUrl),
    fapi2: fapi2SettingsFromEnv(env),
    userAccessTokenTtlSeconds: userAccessTokenTtlFromEnv(env),
    clientJwksCacheFloorSeconds: jwksCacheFloorFrom(env),
  };
}

type ErrorDetails = Error & { error_detail?: string; error_description?: string };
type EventContext = { oidc?: { client?: { clientId: string } | undefined } } | undefined;

function logEvents(provider: Provider): void {
  // Every client-authentication failure answers the same `invalid_client`; the reason is only in
  // error_detail, on these events. Log it for the developers of the client.
  const report = (event: string) => (ctx: EventContext, err: ErrorDetails) => {
    const detail = err.error_detail ?? err.error_description ?? '';
    const client = ctx?.oidc?.client ? ` client=${ctx.oidc.client.clientId}` : '';
    console.warn(`[op] ${event}: ${err.message}${detail ? ` (${detail})` : ''}${client}`);
  };
  provider.on('grant.error', report('grant.error'));
  provider.on('authorization.error', report('authorization.error'));
  provider.on('userinfo.error', report('userinfo.error'));
  provider.on('end_session.error', report('end_session.error'));
  provider.on('jwks.error', report('jwks.error'));
  provider.on('server_error', report('server_error'));
  // One line per Logout Token sent (Back-Channel Logout 1.0 §2.5): which client, and whether it
  // answered 200 (oidc-provider also takes 204), else its status or the network failure. Never the
  // token.
  provider.on('backchannel.success', (_ctx, client) => {
    console.log(`[op] backchannel.logout client=${client.clientId} outcome=delivered`);
  });
  provider.on('backchannel.error', (_ctx, err, client) => {
    const { status } = (err as { response?: { status?: unknown } }).response ?? {};
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    const reason =
      typeof status === 'number' ? `status=${status}` : `reason="${err.message}${cause}"`;
    console.warn(`[op] backchannel.logout client=${client.clientId} outcome=failed ${reason}`);
  });
  provider.on('grant.success', (ctx) => {
    console.log(
      `[op] grant.success grant_type=${String(ctx.oidc.params?.grant_type)} client=${ctx.oidc.client?.clientId}`,
    );
  });
}

/** Creates and starts the provider; resolves once it listens. */
export async function startProvider(
  settings: ProviderSettings,
): Promise<{ provider: Provider; server: Server }> {
  const jwksCache =
    settings.registration.mode === 'jwks_uri'
      ? new ClientJwksCache(settings.registration.jwksUri, settings.clientJwksCacheFloorSeconds)
      : undefined;
  const provider = new Provider(
    settings.issuer,
    buildConfiguration(settings, (url, response) => jwksCache?.observe(url, response)),
  );
  await jwksCache?.install(provider, settings.clientId);
  // MUST: a jti seen is refused until its JWT expires, whatever else the provider stores.
  installReplayDetection(provider);
  const url = new URL(settings.issuer);
  if (url.protocol === 'https:') provider.proxy = true;
  // Outermost, so that it sees the final answer of every endpoint.
  provider.use(refusalStyle(settings.refusalStyle ?? 'explain'));
  logTokenRequests(provider);
  provider.use(interactions(provider));
  exposeClientAuthFailures(provider);
  logEvents(provider);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const server = await new Promise<Server>((done, fail) => {
    const s = provider.listen(port, host, () => done(s));
    s.once('error', fail);
  });
  return { provider, server };
}

const isMain =
  process.argv[1] !== undefined &&
  resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isMain) {
  try {
    // Shared settings (APP_URL, API_RESOURCE, API_SCOPE) come from the app's .env.local too.
    nextEnv.loadEnvConfig(process.cwd(), process.env.NODE_ENV !== 'production');
    const settings = await settingsFromEnv();
    await startProvider(settings);
    console.log(
      `[op] Bundled OpenID Provider ready at ${settings.issuer} (client ` +
        `${settings.clientId}, keys via ${settings.registration.mode}, assertion aud: ` +
        `${settings.assertionAudience}, typ: ${settings.assertionTyp}, checks: ` +
        `${settings.assertionChecks}, algs: ${settings.clientAuthAlgs?.join(',') ?? 'default'}, refusals: ` +
        `${settings.refusalStyle}; API ${settings.api.resource}, scope ${settings.api.scope}` +
        (settings.fapi2?.profile === 'fapi2' ? '; FAPI 2.0: PAR and DPoP required' : '') +
        (settings.fapi2?.dpopNonce ? ', DPoP nonces' : '') +
        ')',
    );
    const stop = () => process.exit(0);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (err) {
    console.error(`[op] failed to start: ${(err as Error).message}`);
    process.exit(1);
  }
}
