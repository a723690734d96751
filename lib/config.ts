import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';

import type { RedisOptions } from 'ioredis';

import { ConfigError, type ConfigProblem } from './errors';
import { CLIENT_AUTH_ALGS, ID_TOKEN_ALGS, type ClientAuthAlg } from './algorithms';
import { warnLoudly } from './log';
import { processSlot } from './process-slot';
import { defaultIdTokenAlg, parseProtocolProfile, type ProtocolProfile } from './protocol-profile';

/**
 * The app's settings, parsed once from the environment into a frozen, typed object.
 *
 * Every variable here is part of the public interface (README, `.env.example`). A bad or missing
 * setting never surfaces later as a confusing protocol error: {@link parseConfig} collects every
 * problem and throws one {@link ConfigError} naming each variable and how to fix it.
 */

/** Where `aud` of the client assertion points. `issuer` is RFC 10070's rule. */
export type AssertionAudience =
  | { readonly mode: 'issuer' }
  | { readonly mode: 'token_endpoint' }
  | {
      readonly mode: 'url';
      readonly url: string;
      /**
       * `OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE`: accept a URL whose origin is neither the issuer's
       * nor the token endpoint's (checked at discovery otherwise).
       */
      readonly anyOrigin: boolean;
    };

export type AppConfig = {
  readonly production: boolean;
  /** The app's origin, e.g. `http://localhost:3000` (no trailing slash). */
  readonly appUrl: string;
  /** `APP_URL + /auth/callback`, registered at the provider. */
  readonly redirectUri: string;
  /** `APP_URL + /`, where the provider sends the browser after logout. */
  readonly postLogoutRedirectUri: string;
  /** Whether cookies get `Secure` (and the `__Host-` prefix): APP_URL is https. */
  readonly secureCookies: boolean;
  /** The provider's issuer identifier, exactly as configured. */
  readonly issuer: string;
  readonly clientId: string;
  /** Absolute path of the client's private key file. */
  readonly clientKeyFile: string;
  /** True when the key file lies in the repository's `keys/` folder (a development key). */
  readonly clientKeyIsDev: boolean;
  /** Opens a PKCS#12 bundle or an encrypted PEM key. Never logged. */
  readonly clientKeyPassphrase: string | undefined;
  /** Absolute path of the client's X.509 certificate (PEM or DER), when it is not in the key file. */
  readonly clientCertFile: string | undefined;
  readonly scopes: string;
  /** The current session secret: it seals every new cookie. */
  readonly sessionSecret: string;
  /** Where the session secret came from; `dev-file` means generated for development. */
  readonly sessionSecretSource: 'env' | 'dev-file';
  /**
   * iron-session password maps (see {@link buildSessionPasswords}): `seal` holds only the current
   * secret, `open` also every secret in SESSION_SECRET_PREVIOUS, so that rotating the secret signs
   * nobody out.
   */
  readonly sessionPasswords: SessionPasswords;
  /** Where sessions live: this process's memory (one instance), or Redis (any number). */
  readonly sessionStore: SessionStoreSetting;
  /** Bound on every back-channel request to the provider. */
  readonly httpTimeoutMs: number;
  /** The only algorithm accepted on ID tokens (OIDC Registration's default: RS256). */
  readonly idTokenSignedResponseAlg: string;
  /**
   * How long providers may cache the app's JWKS (`Cache-Control: max-age` of its `jwks_uri`),
   * seconds. The key tool waits this long (plus a margin) before a rotated-in key signs.
   */
  readonly clientJwksMaxAgeSeconds: number;
  /** The largest clock offset (seconds) corrected from the provider's `Date`; 0 never corrects. */
  readonly clockSkewMaxSeconds: number;
  /** The protected API (machine to machine): the resource server in this app and its tokens. */
  readonly api: {
    /**
     * The API's resource indicator (RFC 8707): sent as `resource` in the client-credentials
     * request, and the `aud` its access tokens must carry.
     */
    readonly resource: string;
    /** The scope requested with the client-credentials grant and required by the API. */
    readonly scope: string;
    /** Where the app's protected API answers: `APP_URL/api/messages`. */
    readonly messagesUrl: string;
  };
  readonly assertion: {
    /** Forces the signing algorithm; by default it follows the key (RSA → RS256). */
    readonly alg: ClientAuthAlg | undefined;
    readonly audience: AssertionAudience;
    /**
     * Send `typ: client-authentication+jwt` (RFC 10070). By default only with the issuer audience:
     * the type announces an assertion made under RFC 10070's rules, which forbid other audiences.
     */
    readonly typ: boolean;
    /** Also send the SHA-1 certificate thumbprint `x5t` (AD FS); `x5t#S256` is always sent. */
    readonly x5tSha1: boolean;
    /** `exp - iat`, seconds. */
    readonly lifetimeSeconds: number;
  };
  /** OIDC_PROFILE (FAPI 2.0), PAR, DPoP and the API's DPoP rules (./protocol-profile.ts). */
  readonly protocol: ProtocolProfile;
};

/** iron-session password maps: id → secret. */
export type SessionPasswords = {
  readonly seal: Readonly<Record<string, string>>;
  readonly open: Readonly<Record<string, string>>;
  /**
   * The maps to try after `open` on a seal under id "1" that `open` does not open: each other
   * listed secret under "1" (see {@link passwordsToOpen}).
   */
  readonly openAlso: readonly Readonly<Record<string, string>>[];
};

export type SessionStoreSetting =
  | { readonly kind: 'memory' }
  /** `url` may carry credentials: never log it whole (see {@link describeRedisUrl}). */
  | { readonly kind: 'redis'; readonly url: string };

/** Defaults for the bundled provider, so `npm run demo` needs no configuration at all. */
export const DEFAULTS = Object.freeze({
  issuer: 'http://localhost:4000',
  clientId: 'client_using_jwt',
  appUrl: 'http://localhost:3000',
  scopes: 'openid profile email',
  httpTimeoutMs: 10_000,
  assertionLifetimeSeconds: 60,
  /** `Cache-Control: max-age` of the app's JWKS; oidc-provider keeps it at least 60 s anyway. */
  clientJwksMaxAgeSeconds: 60,
  clockSkewMaxSeconds: 300,
  /** Appended to APP_URL for the default API resource indicator. */
  apiResourcePath: '/api',
  apiScope: 'api1',
  /** Relative to the project root. */
  devKeyFile: 'keys/dev-client.private.jwks.json',
  devSessionSecretFile: 'keys/dev-session-secret',
});

export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Upper bound of `OIDC_CLOCK_SKEW_MAX`: a clock an hour off is a time-zone mistake, not skew. */
export const MAX_CLOCK_SKEW_SETTING_SECONDS = 3600;

/** Longest JWKS max-age: a key rotation waits at least this long before the new key signs. */
export const MAX_CLIENT_JWKS_MAX_AGE_SECONDS = 86_400;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export type Env = Readonly<Record<string, string | undefined>>;

export type ParseOptions = {
  /** Project root; relative paths are resolved against it. */
  readonly root?: string;
  /**
   * Supplies the development session secret when SESSION_SECRET is unset outside production.
   * Defaults to reading (or creating) `keys/dev-session-secret`.
   */
  readonly devSessionSecret?: (file: string) => string;
};

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** True for http(s) URLs on localhost, 127.0.0.1 or ::1, where plain http is tolerable. */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/**
 * A URL setting as a message may show it: whatever stands before an `@` in its authority (RFC 3986
 * §3.2.1 userinfo, a user name and password) is masked. MUST: configuration messages are printed
 * at start and end up in logs; a refused URL can carry a password, and it is refused precisely
 * when it is not what it should be, so it cannot be parsed first. Masks too much rather than too
 * little (a scheme-less `user:password@host` included).
 */
function shownUrl(raw: string): string {
  return raw.replace(
    /^((?:[A-Za-z][A-Za-z0-9+.-]*:)?\/\/)?[^/?#]*@/,
    (_match, prefix: string | undefined) => `${prefix ?? ''}***@`,
  );
}

function parseHttpUrl(
  problems: ConfigProblem[],
  variable: string,
  raw: string,
  example: string,
): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push({
      variable,
      message: `"${shownUrl(raw)}" is not a URL`,
      fix: `set it to a URL such as ${example}`,
    });
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    problems.push({
      variable,
      message: `"${shownUrl(raw)}" is not an http(s) URL`,
      fix: `use ${example}`,
    });
    return undefined;
  }
  // MUST: plain http exposes codes and tokens on the wire; it is tolerated on loopback only.
  if (url.protocol === 'http:' && !isLoopbackUrl(url)) {
    problems.push({
      variable,
      message: `"${shownUrl(raw)}" uses plain http on a non-loopback host`,
      fix: 'use https (http is allowed only for localhost, 127.0.0.1 and ::1)',
    });
    return undefined;
  }
  if (url.search || url.hash || url.username || url.password) {
    problems.push({
      variable,
      message: `"${shownUrl(raw)}" must not contain credentials, a query or a fragment`,
    });
    return undefined;
  }
  return url;
}

function parseAudience(
  problems: ConfigProblem[],
  raw: string | undefined,
  anyOrigin: boolean,
): AssertionAudience {
  if (raw === undefined || raw === 'issuer' || raw === 'token_endpoint') {
    if (anyOrigin) {
      problems.push({
        variable: 'OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE',
        message: 'applies only when OIDC_CLIENT_ASSERTION_AUDIENCE is a URL',
        fix: 'remove it',
      });
    }
    return { mode: raw === 'token_endpoint' ? 'token_endpoint' : 'issuer' };
  }
  const url = parseHttpUrl(problems, 'OIDC_CLIENT_ASSERTION_AUDIENCE', raw, 'issuer');
  return url ? { mode: 'url', url: raw, anyOrigin } : { mode: 'issuer' };
}

/**
 * The API's resource indicator: RFC 8707 §2 asks for an absolute URI without a fragment. It is an
 * identifier, compared verbatim with `aud`, never fetched: any scheme will do (`https:`, `urn:`,
 * `api:`), and plain http is harmless.
 */
function parseResourceIndicator(problems: ConfigProblem[], raw: string): string {
  if (!URL.canParse(raw) || raw.includes('#')) {
    problems.push({
      variable: 'API_RESOURCE',
      message: `"${shownUrl(raw)}" is not an absolute URI without a fragment (RFC 8707)`,
      fix: 'use the identifier the provider knows the API by, such as https://api.example.com',
    });
  }
  return raw;
}

/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. Safe in a quoted header value. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

function parseScopeToken(problems: ConfigProblem[], variable: string, raw: string): string {
  if (!SCOPE_TOKEN.test(raw)) {
    problems.push({
      variable,
      message: `"${raw}" is not one scope token (RFC 6749 §3.3)`,
      fix: 'use a single scope name such as api1',
    });
  }
  return raw;
}

function parseChoice<T extends string>(
  problems: ConfigProblem[],
  variable: string,
  raw: string | undefined,
  choices: readonly T[],
): T | undefined {
  if (raw === undefined) return undefined;
  if ((choices as readonly string[]).includes(raw)) return raw as T;
  problems.push({
    variable,
    message: `"${raw}" is not supported`,
    fix: `use one of ${choices.join(', ')}`,
  });
  return undefined;
}

function parseBoolean(
  problems: ConfigProblem[],
  variable: string,
  raw: string | undefined,
  fallback: boolean,
): boolean {
  if (raw === undefined) return fallback;
  const lowered = raw.toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(lowered)) return true;
  if (['0', 'false', 'off', 'no'].includes(lowered)) return false;
  problems.push({ variable, message: `"${raw}" is not a boolean`, fix: 'use true or false' });
  return fallback;
}

function parseInteger(
  problems: ConfigProblem[],
  variable: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push({ variable, message: `"${raw}" is not a whole number from ${min} to ${max}` });
    return fallback;
  }
  return n;
}

function parseClientJwksMaxAgeInto(problems: ConfigProblem[], env: Env): number {
  return parseInteger(
    problems,
    'OIDC_CLIENT_JWKS_MAX_AGE',
    value(env, 'OIDC_CLIENT_JWKS_MAX_AGE'),
    DEFAULTS.clientJwksMaxAgeSeconds,
    0,
    MAX_CLIENT_JWKS_MAX_AGE_SECONDS,
  );
}

/**
 * OIDC_CLIENT_JWKS_MAX_AGE alone, for the key tool, which needs no other setting: how long
 * providers may cache the app's JWKS, and so how long a new key must be published before it signs.
 *
 * @throws {ConfigError} when it is not a whole number of seconds in range.
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.1 (max-age)
 */
export function parseClientJwksMaxAge(env: Env): number {
  const problems: ConfigProblem[] = [];
  const seconds = parseClientJwksMaxAgeInto(problems, env);
  if (problems.length > 0) throw new ConfigError(problems);
  return seconds;
}

/**
 * The iron-session id of a secret: a number derived from the secret itself, so that it stays the
 * same whichever position the secret holds in the settings (current, then previous). iron-session
 * seals with the highest id of the map it is given and writes that id into the seal; opening looks
 * the id up. Ids must be numeric for its sealData.
 */
export function sessionPasswordId(secret: string): string {
  const id = String(parseInt(createHash('sha256').update(secret).digest('hex').slice(0, 12), 16));
  // "1" is what a bare string password seals with; keep it unambiguous.
  return id === '1' ? '2' : id;
}

/**
 * Password maps for iron-session from the current secret and those it replaced.
 *
 * - One secret, no previous ones: it seals under id "1", exactly as iron-session does with a plain
 *   string password (so the cookies of a deployment that never rotated stay what they were).
 * - During a rotation: the current secret seals under its own id ({@link sessionPasswordId});
 *   every previous secret opens under its own id, and the first previous one also under "1" (it
 *   sealed under "1" while it was alone); the others are tried under "1" after it
 *   ({@link passwordsToOpen}: two rotations within a session's lifetime). After the previous
 *   secrets are dropped, the current one returns to "1" for new cookies and still opens the
 *   cookies it sealed under its own id.
 *
 * So rotating is: set SESSION_SECRET to the new secret and SESSION_SECRET_PREVIOUS to the old
 * one; once the old cookies have expired (8 hours), remove SESSION_SECRET_PREVIOUS.
 *
 * @see https://github.com/vvo/iron-session#passwords-rotation (password maps)
 */
export function buildSessionPasswords(
  current: string,
  previous: readonly string[],
): SessionPasswords {
  const open: Record<string, string> = {};
  for (const secret of [...previous].reverse()) open[sessionPasswordId(secret)] = secret;
  open[sessionPasswordId(current)] = current;
  open['1'] = previous[0] ?? current;
  // Every secret sealed under "1" while it was alone, and "1" names one of them in `open`: the
  // others are tried under "1" when that one fails (two rotations within a session's lifetime).
  const openAlso = [...new Set([...previous, current])]
    .filter((secret) => secret !== open['1'])
    .map((secret) => Object.freeze({ '1': secret }));
  return Object.freeze({
    seal: Object.freeze(
      previous.length === 0 ? { '1': current } : { [sessionPasswordId(current)]: current },
    ),
    open: Object.freeze(open),
    openAlso: Object.freeze(openAlso),
  });
}

/**
 * The password maps that may open `sealed`, in the order to try them: `open`, then, for a seal
 * under id "1" (iron-session's id for a lone secret), {@link SessionPasswords.openAlso}.
 *
 * MUST: every secret listed (SESSION_SECRET, SESSION_SECRET_PREVIOUS) opens what it sealed,
 * whatever its place in the list; a secret no longer listed opens nothing (each map holds listed
 * secrets only).
 *
 * @see https://github.com/vvo/iron-session#passwords-rotation (password maps)
 */
export function passwordsToOpen(
  sealed: string,
  passwords: SessionPasswords,
): readonly Readonly<Record<string, string>>[] {
  // `Fe26.2*<password id>*…`: the id is the seal's second field.
  const id = sealed.split('*', 2)[1];
  return id === '1' ? [passwords.open, ...passwords.openAlso] : [passwords.open];
}

/**
 * `open(password)` with each map of {@link passwordsToOpen} in turn: the first value it returns,
 * or undefined when none opens `sealed`.
 */
export async function openWithRotation<T>(
  sealed: string,
  passwords: SessionPasswords,
  open: (password: Readonly<Record<string, string>>) => Promise<T | undefined>,
): Promise<T | undefined> {
  for (const password of passwordsToOpen(sealed, passwords)) {
    const value = await open(password);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** A Redis URL for logs: scheme, host, port and database, never the user name or password. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

/**
 * Where to connect, from the parts of `REDIS_URL` (scheme, user, password, host, port, database)
 * and nothing else, as node-redis read it.
 *
 * MUST: not ioredis's own URL parsing. It takes every `?name=value` of the query as a client option
 * over the ones given here (`?enableOfflineQueue=true` would bring back the queue that makes
 * requests hang), and it turns TLS on for a URL that starts with `rediss://` in lower case only,
 * while the configuration (WHATWG URL) takes `REDISS://` as TLS too: that one would go out in
 * plain text, refresh tokens included.
 *
 * The store connects with this (./redis-session-store.ts), and the configuration parses
 * `REDIS_URL` with it too, so that a URL the store cannot use is one message at start.
 *
 * @throws {TypeError} for a URL that is not `redis:` or `rediss:`, or whose path is not a database
 *   number; {URIError} for a malformed %-escape in the user name or password. Startup stops with
 *   either rather than retry a connection that can never be used.
 * @see https://www.iana.org/assignments/uri-schemes/prov/redis
 * @see https://www.iana.org/assignments/uri-schemes/prov/rediss
 */
export function redisConnectionOptions(url: string): RedisOptions {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`not a redis: or rediss: URL (${parsed.protocol})`);
  }
  const options: RedisOptions = {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || undefined,
    port: parsed.port === '' ? 6379 : Number(parsed.port),
  };
  if (parsed.pathname.length > 1) {
    const db = /^\/(\d{1,9})$/.exec(parsed.pathname)?.[1];
    if (db === undefined) throw new TypeError('the path of REDIS_URL is not a database number');
    options.db = Number(db);
  }
  // A malformed %-escape throws URIError, as it did with node-redis.
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

function parseRedisUrl(problems: ConfigProblem[], raw: string | undefined): SessionStoreSetting {
  if (raw === undefined) return { kind: 'memory' };
  if (!URL.canParse(raw) || !['redis:', 'rediss:'].includes(new URL(raw).protocol)) {
    problems.push({
      variable: 'REDIS_URL',
      message: 'is not a redis:// or rediss:// URL',
      fix: 'use redis://host:6379 (or rediss:// for TLS), with user:password@ when Redis needs them',
    });
    return { kind: 'memory' };
  }
  try {
    redisConnectionOptions(raw);
  } catch (err) {
    // The scheme is checked above: a URIError is a %-escape, a TypeError the path.
    problems.push(
      err instanceof URIError
        ? {
            variable: 'REDIS_URL',
            message: 'its user name or password has a malformed %-escape',
            fix: 'percent-encode the user name and password (encodeURIComponent), e.g. %40 for @',
          }
        : {
            variable: 'REDIS_URL',
            message: `its path (${new URL(raw).pathname.slice(0, 40)}) is not a database number`,
            fix: 'end the URL with the database number (redis://host:6379/0), or leave the path out',
          },
    );
    return { kind: 'memory' };
  }
  return { kind: 'redis', url: raw };
}

/** Reads the development session secret, creating it (owner-only) on first use. */
export function readOrCreateDevSessionSecret(file: string): string {
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return existing;
  } catch {
    // not there yet: create it below
  }
  const secret = randomBytes(32).toString('base64url');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * Parses and validates every setting.
 *
 * @throws {ConfigError} naming every variable at fault.
 */
export function parseConfig(env: Env, options: ParseOptions = {}): AppConfig {
  const root = options.root ?? process.cwd();
  const problems: ConfigProblem[] = [];
  const production = env.NODE_ENV === 'production';

  // MUST: the bundled provider's issuer and the demo's origin are development defaults, refused in
  // production like the development key and secret: with an unset OIDC_ISSUER, whatever listens
  // on port 4000 of the host would be the provider every sign-in trusts.
  const developmentDefaults = [
    [
      'OIDC_ISSUER',
      DEFAULTS.issuer,
      "your provider's issuer identifier, e.g. https://login.example.com",
    ],
    ['APP_URL', DEFAULTS.appUrl, "this app's public origin, e.g. https://app.example.com"],
  ] as const;
  for (const [variable, fallback, example] of developmentDefaults) {
    if (production && value(env, variable) === undefined) {
      problems.push({
        variable,
        message: `is required in production (the default ${fallback} is for development only)`,
        fix: `set it to ${example}`,
      });
    }
  }
  const issuerRaw = value(env, 'OIDC_ISSUER') ?? DEFAULTS.issuer;
  const issuerUrl = parseHttpUrl(
    problems,
    'OIDC_ISSUER',
    issuerRaw,
    'https://login.example.com/realms/demo',
  );

  const appUrlRaw = value(env, 'APP_URL') ?? DEFAULTS.appUrl;
  const appUrl = parseHttpUrl(problems, 'APP_URL', appUrlRaw, 'https://app.example.com');
  if (appUrl && appUrl.pathname !== '/') {
    problems.push({
      variable: 'APP_URL',
      message: `"${shownUrl(appUrlRaw)}" has a path; the app must be served at the root of its origin`,
      fix: `use ${appUrl.origin}`,
    });
  }

  const clientId = value(env, 'OIDC_CLIENT_ID') ?? DEFAULTS.clientId;

  const keyFileRaw = value(env, 'OIDC_CLIENT_KEY_FILE');
  if (keyFileRaw === undefined && production) {
    problems.push({
      variable: 'OIDC_CLIENT_KEY_FILE',
      message:
        'is required in production (the generated development key is used only when named explicitly)',
      fix: 'point it at the private key registered with your provider (PEM, JWK/JWKS JSON or PKCS#12)',
    });
  }
  const clientKeyFile = resolve(root, keyFileRaw ?? DEFAULTS.devKeyFile);
  try {
    if (keyFileRaw !== undefined || !production) accessSync(clientKeyFile, constants.R_OK);
  } catch {
    problems.push({
      variable: 'OIDC_CLIENT_KEY_FILE',
      message: `cannot read "${clientKeyFile}"`,
      fix:
        keyFileRaw === undefined
          ? 'run `npm run keys` to generate a development key'
          : 'check the path and its permissions',
    });
  }
  // Not trimmed: a passphrase may begin or end with a space.
  const rawPassphrase = env.OIDC_CLIENT_KEY_PASSPHRASE;
  const clientKeyPassphrase =
    rawPassphrase === undefined || rawPassphrase === '' ? undefined : rawPassphrase;
  const certFileRaw = value(env, 'OIDC_CLIENT_CERT_FILE');
  const clientCertFile = certFileRaw === undefined ? undefined : resolve(root, certFileRaw);
  if (clientCertFile !== undefined) {
    try {
      accessSync(clientCertFile, constants.R_OK);
    } catch {
      problems.push({
        variable: 'OIDC_CLIENT_CERT_FILE',
        message: `cannot read "${clientCertFile}"`,
        fix: 'check the path and its permissions',
      });
    }
  }
  const keysDir = resolve(root, 'keys');
  const fromKeysDir = relative(keysDir, clientKeyFile);
  const clientKeyIsDev = !fromKeysDir.startsWith('..') && !isAbsolute(fromKeysDir);

  const scopes = (value(env, 'OIDC_SCOPES') ?? DEFAULTS.scopes).split(/\s+/).join(' ');
  if (!scopes.split(' ').includes('openid')) {
    problems.push({
      variable: 'OIDC_SCOPES',
      message: `"${scopes}" lacks "openid"`,
      fix: 'include openid, e.g. "openid profile email"',
    });
  }

  let sessionSecret = value(env, 'SESSION_SECRET');
  let sessionSecretSource: AppConfig['sessionSecretSource'] = 'env';
  if (sessionSecret === undefined) {
    if (production) {
      problems.push({
        variable: 'SESSION_SECRET',
        message: 'is required in production',
        fix: 'set it to at least 32 random characters, e.g. `openssl rand -base64 32`',
      });
    } else {
      const file = resolve(root, DEFAULTS.devSessionSecretFile);
      sessionSecret = (options.devSessionSecret ?? readOrCreateDevSessionSecret)(file);
      sessionSecretSource = 'dev-file';
    }
  } else if (sessionSecret.length < 32) {
    problems.push({
      variable: 'SESSION_SECRET',
      message: `must be at least 32 characters (got ${sessionSecret.length})`,
      fix: 'generate one with `openssl rand -base64 32`',
    });
  }

  const previousSecrets = (value(env, 'SESSION_SECRET_PREVIOUS') ?? '')
    .split(/\s+/)
    .filter((secret) => secret !== '');
  if (previousSecrets.some((secret) => secret.length < 32)) {
    problems.push({
      variable: 'SESSION_SECRET_PREVIOUS',
      message: 'every secret must be at least 32 characters',
      fix: 'list the secrets SESSION_SECRET replaced, separated by spaces, newest first',
    });
  }
  const sessionStore = parseRedisUrl(problems, value(env, 'REDIS_URL'));

  const httpTimeoutMs = parseInteger(
    problems,
    'OIDC_HTTP_TIMEOUT_MS',
    value(env, 'OIDC_HTTP_TIMEOUT_MS'),
    DEFAULTS.httpTimeoutMs,
    100,
    120_000,
  );
  const idTokenAlgRaw = value(env, 'OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG');
  const idTokenAlg = parseChoice(
    problems,
    'OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG',
    idTokenAlgRaw,
    ID_TOKEN_ALGS,
  );
  const clientJwksMaxAgeSeconds = parseClientJwksMaxAgeInto(problems, env);
  const alg = parseChoice(
    problems,
    'OIDC_CLIENT_AUTH_ALG',
    value(env, 'OIDC_CLIENT_AUTH_ALG'),
    CLIENT_AUTH_ALGS,
  );
  const audience = parseAudience(
    problems,
    value(env, 'OIDC_CLIENT_ASSERTION_AUDIENCE'),
    parseBoolean(
      problems,
      'OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE',
      value(env, 'OIDC_CLIENT_ASSERTION_AUDIENCE_FORCE'),
      false,
    ),
  );
  // MUST: the explicit type announces an RFC 10070 assertion, whose audience is the issuer; with
  // a legacy audience it is sent only when asked for explicitly.
  const typ = parseBoolean(
    problems,
    'OIDC_CLIENT_ASSERTION_TYP',
    value(env, 'OIDC_CLIENT_ASSERTION_TYP'),
    audience.mode === 'issuer',
  );
  const x5tSha1 = parseBoolean(
    problems,
    'OIDC_CLIENT_ASSERTION_X5T_SHA1',
    value(env, 'OIDC_CLIENT_ASSERTION_X5T_SHA1'),
    false,
  );
  const lifetimeSeconds = parseInteger(
    problems,
    'OIDC_CLIENT_ASSERTION_LIFETIME',
    value(env, 'OIDC_CLIENT_ASSERTION_LIFETIME'),
    DEFAULTS.assertionLifetimeSeconds,
    5,
    MAX_ASSERTION_LIFETIME_SECONDS,
  );
  const clockSkewMaxSeconds = parseInteger(
    problems,
    'OIDC_CLOCK_SKEW_MAX',
    value(env, 'OIDC_CLOCK_SKEW_MAX'),
    DEFAULTS.clockSkewMaxSeconds,
    0,
    MAX_CLOCK_SKEW_SETTING_SECONDS,
  );

  const protocol = parseProtocolProfile((name) => value(env, name), problems, {
    assertionAudience: value(env, 'OIDC_CLIENT_ASSERTION_AUDIENCE'),
    assertionLifetimeSeconds: lifetimeSeconds,
    assertionAlg: alg,
    idTokenAlg,
  });
  const idTokenSignedResponseAlg = idTokenAlg ?? defaultIdTokenAlg(protocol.profile);

  const apiResource = parseResourceIndicator(
    problems,
    value(env, 'API_RESOURCE') ?? `${appUrl?.origin ?? DEFAULTS.appUrl}${DEFAULTS.apiResourcePath}`,
  );
  const apiScope = parseScopeToken(
    problems,
    'API_SCOPE',
    value(env, 'API_SCOPE') ?? DEFAULTS.apiScope,
  );

  if (problems.length > 0 || !issuerUrl || !appUrl || sessionSecret === undefined) {
    throw new ConfigError(problems);
  }

  return Object.freeze({
    production,
    appUrl: appUrl.origin,
    redirectUri: `${appUrl.origin}/auth/callback`,
    postLogoutRedirectUri: `${appUrl.origin}/`,
    secureCookies: appUrl.protocol === 'https:',
    issuer: issuerRaw,
    clientId,
    clientKeyFile,
    clientKeyIsDev,
    clientKeyPassphrase,
    clientCertFile,
    scopes,
    sessionSecret,
    sessionSecretSource,
    sessionPasswords: buildSessionPasswords(sessionSecret, previousSecrets),
    sessionStore: Object.freeze(sessionStore),
    httpTimeoutMs,
    idTokenSignedResponseAlg,
    clientJwksMaxAgeSeconds,
    clockSkewMaxSeconds,
    api: Object.freeze({
      resource: apiResource,
      scope: apiScope,
      messagesUrl: `${appUrl.origin}/api/messages`,
    }),
    assertion: Object.freeze({
      alg,
      audience: Object.freeze(audience),
      typ,
      x5tSha1,
      lifetimeSeconds,
    }),
    protocol,
  });
}

const cached = processSlot<AppConfig>('config');

/**
 * The process-wide configuration, parsed on first use and then reused. Warns loudly when
 * development defaults are in use.
 *
 * @throws {ConfigError} on bad or missing settings.
 */
export function getConfig(): AppConfig {
  const existing = cached.get();
  if (existing) return existing;
  const config = parseConfig(process.env);
  if (config.clientKeyIsDev) {
    warnLoudly(
      `DEVELOPMENT KEY IN USE: the client signs with ${config.clientKeyFile}. ` +
        `Register your own key for anything but a demo.`,
    );
  }
  if (config.sessionSecretSource === 'dev-file') {
    warnLoudly(
      `GENERATED SESSION SECRET IN USE (${DEFAULTS.devSessionSecretFile}). Set SESSION_SECRET outside development.`,
    );
  }
  if (config.assertion.audience.mode !== 'issuer') {
    const { audience } = config.assertion;
    warnLoudly(
      `LEGACY CLIENT ASSERTION AUDIENCE ` +
        `(OIDC_CLIENT_ASSERTION_AUDIENCE=${audience.mode === 'url' ? audience.url : 'token_endpoint'}): ` +
        `RFC 10070 requires the issuer; use this only for a provider that refuses it.`,
    );
  }
  if (config.sessionStore.kind === 'redis') {
    const url = new URL(config.sessionStore.url);
    if (url.protocol === 'redis:' && !isLoopbackUrl(new URL(`http://${url.host}`))) {
      warnLoudly(
        `PLAIN-TEXT REDIS (${describeRedisUrl(config.sessionStore.url)}): sessions hold refresh tokens. Use rediss:// (TLS) unless this network is private to the app.`,
      );
    }
  }
  cached.set(config);
  return config;
}
