import { DEFAULTS } from '../lib/config';

/** The ES256 development key the FAPI 2.0 demo signs with (RS256 is not a FAPI 2.0 algorithm). */
export const FAPI2_DEV_KEY_FILE = 'keys/dev-client-fapi2.private.jwks.json';

/** Where the demo provider keeps its signing keys across restarts. */
export const DEMO_PROVIDER_KEYS_FILE = 'keys/dev-provider.private.jwks.json';

export type DemoSettings = {
  /** The app's origin, without a trailing slash. */
  readonly appUrl: string;
  readonly issuer: string;
  /** The issuer is the bundled provider's, so the demo starts it. */
  readonly bundled: boolean;
  /** The key file the app signs with (named explicitly: production refuses an implicit one). */
  readonly clientKeyFile: string;
  /** The key file was chosen by the demo, not by OIDC_CLIENT_KEY_FILE. */
  readonly clientKeyIsDemo: boolean;
  /** SESSION_SECRET when set; undefined: the demo uses the generated development secret. */
  readonly sessionSecret: string | undefined;
  readonly providerSigningKeysFile: string;
};

/**
 * A setting as the app reads it (lib/config.ts): trimmed, and empty meaning unset. `.env.example`,
 * copied to `.env.local` as it says, leaves `SESSION_SECRET=` and others empty: the demo must
 * then use its own defaults, not hand the app an empty value that production refuses.
 */
function setting(env: Readonly<Record<string, string | undefined>>, name: string) {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/**
 * What `npm run demo` starts the provider and the app with, from the environment (and
 * `.env.local`, already loaded into it).
 */
export function demoSettings(
  env: Readonly<Record<string, string | undefined>>,
  options: { readonly fapi2: boolean },
): DemoSettings {
  const appUrl = (setting(env, 'APP_URL') ?? DEFAULTS.appUrl).replace(/\/$/, '');
  const providerIssuer = setting(env, 'PROVIDER_ISSUER') ?? DEFAULTS.issuer;
  const issuer = setting(env, 'OIDC_ISSUER') ?? providerIssuer;
  const keyFile = setting(env, 'OIDC_CLIENT_KEY_FILE');
  return {
    appUrl,
    issuer,
    bundled: issuer === providerIssuer,
    clientKeyFile: keyFile ?? (options.fapi2 ? FAPI2_DEV_KEY_FILE : DEFAULTS.devKeyFile),
    clientKeyIsDemo: keyFile === undefined,
    sessionSecret: setting(env, 'SESSION_SECRET'),
    providerSigningKeysFile: setting(env, 'PROVIDER_SIGNING_KEYS_FILE') ?? DEMO_PROVIDER_KEYS_FILE,
  };
}
