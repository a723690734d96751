import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type Provider from 'oidc-provider';

import { loadClientKeySet } from '../../lib/keys';
import { findFreePort } from '../../scripts/processes';
import { settingsFromEnv, startProvider } from '../../provider/index';

/**
 * The bundled provider inside the calling process, for protocol-level tests: a free loopback
 * port, a fresh client key (RSA, PKCS#8 PEM) registered inline, and the app's settings pointed at
 * it through `process.env` (lib/config.ts reads them on first use).
 */

export type InProcessProvider = {
  readonly issuer: string;
  /** The client's private key file, as OIDC_CLIENT_KEY_FILE names it. */
  readonly keyFile: string;
  readonly provider: Provider;
  readonly server: Server;
  stop(): void;
};

export type InProcessOptions = {
  /** The client key's type (default RSA 2048). */
  readonly keyType?: 'rsa' | 'ec';
  /** More settings for the app (OIDC_PROFILE, OIDC_DPOP, …), put in `process.env`. */
  readonly appEnv?: Readonly<Record<string, string>>;
  /** More settings for the provider (PROVIDER_PROFILE, PROVIDER_DPOP_NONCE, …). */
  readonly providerEnv?: Readonly<Record<string, string>>;
};

/**
 * The bundled provider on a free loopback port, with the client's public JWKS (`jwksFile`)
 * registered inline and `env` on top of the test settings.
 */
export async function startBundledProviderWithJwks(
  appUrl: string,
  jwksFile: string,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<{ issuer: string; provider: Provider; server: Server }> {
  const issuer = `http://localhost:${await findFreePort()}`;
  const settings = await settingsFromEnv({
    NODE_ENV: 'test',
    PROVIDER_ISSUER: issuer,
    APP_URL: appUrl,
    PROVIDER_CLIENT_REGISTRATION: 'jwks',
    PROVIDER_CLIENT_JWKS_FILE: jwksFile,
    ...env,
  });
  const { provider, server } = await startProvider(settings);
  return { issuer, provider, server };
}

export async function startInProcessProvider(
  appUrl: string,
  options: InProcessOptions = {},
): Promise<InProcessProvider> {
  const dir = mkdtempSync(join(tmpdir(), 'rp-op-'));
  const keyFile = join(dir, 'client.pem');
  const pair =
    options.keyType === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const jwksFile = join(dir, 'client.public.jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: (await loadClientKeySet(keyFile)).published }));
  const { issuer, provider, server } = await startBundledProviderWithJwks(
    appUrl,
    jwksFile,
    options.providerEnv,
  );
  Object.assign(process.env, {
    OIDC_ISSUER: issuer,
    APP_URL: appUrl,
    OIDC_CLIENT_KEY_FILE: keyFile,
    SESSION_SECRET: 's'.repeat(32),
    ...options.appEnv,
  });
  return {
    issuer,
    keyFile,
    provider,
    server,
    stop() {
      server.close();
      server.closeAllConnections();
    },
  };
}
