import { listClientAuthHints } from '../lib/client-auth-hints';
import { getConfig } from '../lib/config';
import { getClientKeySet } from '../lib/keys';

/**
 * What usually makes a provider refuse this client, with the values of this set-up filled in
 * (lib/client-auth-hints.ts, the list the error page shows too). Used by `npm run
 * client-credentials`.
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

/**
 * The explanation, as lines of text.
 *
 * @param said the provider's own words (`error_description`), when it sent any.
 * @param answer how the token endpoint answered, when it sent no OAuth error (status, content type).
 */
export async function explainInvalidClient(said?: string, answer?: string): Promise<string[]> {
  const settings = getConfig();
  const keys = await getClientKeySet();
  const jwksUrl = `${settings.appUrl}/.well-known/jwks.json`;
  const audience =
    settings.assertion.audience.mode === 'issuer'
      ? `${settings.issuer} (the issuer, RFC 10070)`
      : settings.assertion.audience.mode === 'url'
        ? settings.assertion.audience.url
        : 'the token endpoint';
  const lines = [
    'The provider does not accept the client assertion. What usually causes it:',
    ...listClientAuthHints({
      clientId: settings.clientId,
      kid: keys.signing.kid,
      jwksUrl,
      audience,
      lifetimeSeconds: settings.assertion.lifetimeSeconds,
    }).map((hint) => `  - ${hint}`),
    'The provider\'s own log names the reason (the bundled provider prints "[op] grant.error ... (reason)").',
  ];
  if (said) lines.push(`The provider said: ${said}`);
  if (answer) lines.push(`Answer: ${answer}`);
  if (!(await isReachable(jwksUrl))) {
    lines.push(
      '',
      `Note: ${jwksUrl} does not answer. The bundled provider reads this client's keys from there: start the`,
      'app first (npm run demo), or run the provider with PROVIDER_CLIENT_REGISTRATION=jwks.',
    );
  }
  return lines;
}
