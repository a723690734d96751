import nextEnv from '@next/env';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';

import { createTrace, withTrace } from '../lib/back-channel';
import { getConfig } from '../lib/config';
import { AuthError, ConfigError } from '../lib/errors';
import { getClientKeySet } from '../lib/keys';
import { describeError } from '../lib/log';
import { getProvider } from '../lib/discovery';
import { explainInvalidClient } from './explain-invalid-client';

/**
 * `npm run doctor` — checks this app's set-up against the configured provider without a user:
 * settings, the signing key, discovery, what the provider supports, whether the app's JWKS is
 * served, and finally whether the provider accepts the client assertion. For the last step it
 * redeems a made-up authorization code: a provider authenticates the client before it looks at
 * the code, so `invalid_grant` means the assertion was accepted and `invalid_client` means it was
 * not. Nothing is changed anywhere.
 */

nextEnv.loadEnvConfig(process.cwd(), process.env.NODE_ENV !== 'production');

let failures = 0;
const ok = (message: string) => console.log(`  ok    ${message}`);
const warn = (message: string) => console.log(`  warn  ${message}`);
const fail = (message: string) => {
  failures += 1;
  console.log(`  FAIL  ${message}`);
};

async function main(): Promise<void> {
  console.log('Configuration');
  const config = getConfig();
  ok(`issuer ${config.issuer}, client_id ${config.clientId}, redirect_uri ${config.redirectUri}`);

  console.log('Signing key');
  const keys = await getClientKeySet();
  ok(
    `${config.clientKeyFile}: signs with kid ${keys.signing.kid} ` +
      `(${keys.signing.alg}); ${keys.published.length} key(s) published`,
  );

  console.log('Provider');
  const { metadata, config: oidc } = await getProvider();
  ok(`discovered ${metadata.issuer}`);
  const methods = metadata.token_endpoint_auth_methods_supported;
  if (methods === undefined)
    warn('token_endpoint_auth_methods_supported not published (assuming private_key_jwt works)');
  else ok(`private_key_jwt supported (${methods.join(', ')})`);
  const pkce = metadata.code_challenge_methods_supported;
  if (pkce?.includes('S256')) ok('PKCE S256 supported');
  else warn('code_challenge_methods_supported does not list S256 (PKCE is sent anyway)');
  if (metadata.authorization_response_iss_parameter_supported)
    ok('RFC 9207 iss in authorization responses');
  else
    warn(
      'the provider does not announce RFC 9207 iss in authorization responses ' +
        '(mix-up protection relies on state alone)',
    );
  if (!metadata.end_session_endpoint) warn('no end_session_endpoint: sign-out will be local only');

  console.log('Client JWKS');
  const jwksUrl = `${config.appUrl}/.well-known/jwks.json`;
  try {
    const response = await fetch(jwksUrl, { signal: AbortSignal.timeout(config.httpTimeoutMs) });
    const body = (await response.json()) as { keys?: Array<{ kid?: string }> };
    if (body.keys?.some((k) => k.kid === keys.signing.kid)) ok(`${jwksUrl} serves the signing key`);
    else fail(`${jwksUrl} does not serve kid ${keys.signing.kid}`);
  } catch {
    warn(
      `${jwksUrl} is not reachable from here (is the app running?); needed only if the provider uses jwks_uri`,
    );
  }

  console.log('Client authentication');
  const trace = createTrace();
  try {
    await withTrace(trace, () =>
      client.genericGrantRequest(oidc, 'authorization_code', {
        code: 'doctor-probe-not-a-real-code',
        redirect_uri: config.redirectUri,
        code_verifier: client.randomPKCECodeVerifier(),
      }),
    );
    fail('the provider accepted a made-up authorization code');
  } catch (err) {
    const sent = trace.clientAssertions.at(-1);
    if (sent) {
      const header = decodeProtectedHeader(sent);
      const claims = decodeJwt(sent);
      ok(
        `sent assertion: alg=${header.alg} kid=${header.kid} typ=${header.typ ?? '-'} ` +
          `aud=${JSON.stringify(claims.aud)} ` +
          `exp-iat=${Number(claims.exp) - Number(claims.iat)}s`,
      );
    }
    if (err instanceof client.ResponseBodyError && err.error === 'invalid_grant') {
      ok(
        'the provider accepted the client assertion (it then refused the made-up code: invalid_grant)',
      );
    } else if (err instanceof client.ResponseBodyError && err.error === 'invalid_client') {
      fail('the provider rejected the client assertion (invalid_client)');
      for (const line of await explainInvalidClient(err.error_description))
        console.log(`        ${line}`);
    } else {
      warn(`inconclusive: ${describeError(err)}`);
    }
  }
}

main()
  .catch((err: unknown) => {
    failures += 1;
    if (err instanceof ConfigError) console.log(`\n${err.message}`);
    else if (err instanceof AuthError)
      console.log(`  FAIL  ${err.code}: ${err.detail ?? err.message}`);
    else console.log(`  FAIL  ${describeError(err)}`);
  })
  .finally(() => {
    console.log(failures ? `\n${failures} problem(s) found.` : '\nAll checks passed.');
    process.exit(failures ? 1 : 0);
  });
