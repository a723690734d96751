import { getConfig } from '../lib/config';
import { getClientKeySet } from '../lib/keys';

/**
 * What usually makes a provider answer `invalid_client` to this client, with the values of this
 * set-up filled in. Shared by `npm run doctor` and `npm run client-credentials`.
 */

/** Whether something answers 2xx at `url`. */
export async function isReachable(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** The explanation, as lines of text. */
export async function explainInvalidClient(errorDescription?: string): Promise<string[]> {
  const settings = getConfig();
  const keys = await getClientKeySet();
  const jwksUrl = `${settings.appUrl}/.well-known/jwks.json`;
  const audience =
    settings.assertion.audience.mode === 'issuer'
      ? `${settings.issuer} (the issuer, RFC 10070)`
      : settings.assertion.audience.mode;
  const lines = [
    'The provider answered invalid_client: it does not accept the client assertion. What usually causes it:',
    `  - The provider does not have this client's public key (kid ${keys.signing.kid}). Register the JWKS that`,
    `    \`npm run keys -- show\` prints, or the jwks_uri ${jwksUrl}, which must then be reachable from the provider.`,
    '  - The kid is not among the registered keys: the key file changed (OIDC_CLIENT_KEY_FILE) or the provider',
    '    still caches the old JWKS.',
    `  - OIDC_CLIENT_ID (${settings.clientId}) is not the client registered there, or that client is not`,
    '    registered for private_key_jwt.',
    `  - The audience: the assertion says aud = ${audience}.`,
    '    A provider that still wants its token endpoint needs OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint.',
    '  - The typed assertion (typ client-authentication+jwt, RFC 10070) is refused by an older provider:',
    '    OIDC_CLIENT_ASSERTION_TYP=false.',
    `  - The clocks differ: the assertion is valid for ` +
      `${settings.assertion.lifetimeSeconds} s from the moment it was signed.`,
    'The provider\'s own log names the reason (the bundled provider prints "[op] grant.error ... (reason)").',
  ];
  if (errorDescription) lines.push(`The provider said: ${errorDescription}`);
  if (!(await isReachable(jwksUrl))) {
    lines.push(
      '',
      `Note: ${jwksUrl} does not answer. The bundled provider reads this client's keys from there: start the`,
      'app first (npm run demo), or run the provider with PROVIDER_CLIENT_REGISTRATION=jwks.',
    );
  }
  return lines;
}
