import { randomBytes } from 'node:crypto';

import nextEnv from '@next/env';

import { getApiAccessToken } from '../lib/client-credentials';
import { getConfig } from '../lib/config';
import { AUTH_ERROR_CATALOG, AuthError, ConfigError } from '../lib/errors';
import { getClientKeySet } from '../lib/keys';
import { describeError } from '../lib/log';
import { viewJwt, type JwtView } from '../lib/jwt-view';
import { callApi, type ApiAnswer } from '../lib/machine-call';
import { getProvider, isNetworkError } from '../lib/discovery';
import { formatInstant } from '../lib/time-display';
import { authorizeRequest, getApiPolicy, getProviderJwks } from '../lib/resource-server';
import { handleCliArgs } from './cli-args';
import { explainInvalidClient } from './explain-invalid-client';

/**
 * `npm run client-credentials [-- --local]` — machine to machine from the command line, against
 * the configured provider (OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_KEY_FILE, API_RESOURCE,
 * API_SCOPE; `.env.local` is read as by the app):
 *
 * 1. a client-credentials token request authenticated by a freshly signed client assertion,
 * 2. the access token's claims,
 * 3. `GET APP_URL/api/messages` with it: the running app's resource server judges the token over
 *    HTTP, exactly as any caller would meet it. When the app is not running (or with `--local`)
 *    the token is judged here instead, by the same code (lib/resource-server.ts) with the same
 *    settings, and the output says so.
 *
 * Exit code 0 when the API accepted the token, 1 otherwise.
 */

handleCliArgs(process.argv.slice(2), {
  usage: [
    'npm run client-credentials -- [--local]',
    '',
    'Machine to machine from the command line: a client-credentials token request authenticated by',
    "a freshly signed client assertion, the token's claims, and GET APP_URL/api/messages with it.",
    '',
    '  --local   judge the token here (same code, same settings) instead of calling the running app',
    '',
    'Exit code: 0 the API accepted the token, 1 otherwise.',
  ].join('\n'),
  switches: ['--local'],
});

nextEnv.loadEnvConfig(process.cwd(), process.env.NODE_ENV !== 'production');
// This command seals no cookies: a throwaway secret satisfies the configuration check, instead
// of creating (or requiring) the app's session secret.
process.env.SESSION_SECRET ||= randomBytes(32).toString('base64url');

const local = process.argv.includes('--local');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** A JWT time claim: the provider signed it, any JSON number (formatInstant never throws). */
function formatTime(seconds: unknown): string {
  return typeof seconds === 'number'
    ? `${seconds} (${formatInstant(seconds * 1000)})`
    : JSON.stringify(seconds);
}

function printJwt(jwt: JwtView | undefined): void {
  if (!jwt) {
    console.log('   (not a JWT: an opaque token)');
    return;
  }
  console.log(`   header     ${JSON.stringify(jwt.header)}`);
  for (const [name, value] of Object.entries(jwt.payload)) {
    const shown = ['exp', 'iat', 'nbf'].includes(name)
      ? formatTime(value)
      : typeof value === 'string'
        ? value
        : JSON.stringify(value);
    console.log(`   ${name.padEnd(10)} ${shown}`);
  }
}

function printAnswer(answer: ApiAnswer): void {
  console.log(`   → ${answer.status} (${answer.ms} ms)`);
  if (answer.wwwAuthenticate) console.log(`   WWW-Authenticate: ${answer.wwwAuthenticate}`);
  const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body, null, 2);
  if (body) console.log(body.replace(/^/gm, '   '));
}

async function judgeLocally(accessToken: string, dpopBound: boolean): Promise<boolean> {
  const { api } = getConfig();
  if (dpopBound) {
    // A DPoP proof is made by openid-client for a real request; there is none to judge here.
    console.log(
      '   → the token is DPoP-bound (RFC 9449): only the running API can check its proof.',
    );
    return false;
  }
  const decision = await authorizeRequest(
    new Request(api.messagesUrl, { headers: { authorization: `Bearer ${accessToken}` } }),
    getApiPolicy(),
    getProviderJwks,
  );
  if (decision.ok) {
    console.log(
      `   → accepted: client_id ${decision.claims.client_id}, scope "${decision.claims.scope}"`,
    );
    return true;
  }
  console.log(
    `   → refused: ` +
      `${decision.status}${decision.status === 503 ? '' : ` ${decision.challenge.error ?? ''}`} ` +
      `— ${decision.reason}`,
  );
  return false;
}

async function main(): Promise<number> {
  const settings = getConfig();
  const keys = await getClientKeySet();
  const { metadata } = await getProvider();
  console.log(`
${bold('Machine to machine: the client-credentials grant with private_key_jwt')}
Provider   ${metadata.issuer} (token endpoint ${metadata.token_endpoint})
Client     ${settings.clientId}, signing key kid ${keys.signing.kid} (${keys.signing.alg})
API        ${settings.api.resource}, scope ${settings.api.scope}
`);

  let lease;
  try {
    lease = await getApiAccessToken();
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    console.error(
      `✗ No token: ${AUTH_ERROR_CATALOG[err.code].title} (${err.code}${err.error ? `, ${err.error}` : ''}).`,
    );
    if (
      err.code === 'client_authentication_failed' ||
      err.code === 'client_authentication_likely_failed'
    ) {
      // The catalog's words say why a refusal without an OAuth error is still this one.
      if (err.code === 'client_authentication_likely_failed')
        console.error(AUTH_ERROR_CATALOG[err.code].hint);
      const answer = err.code === 'client_authentication_likely_failed' ? err.detail : undefined;
      console.error(`\n${(await explainInvalidClient(err.error_description, answer)).join('\n')}`);
    } else {
      if (err.error_description) console.error(`The provider said: ${err.error_description}`);
      console.error(AUTH_ERROR_CATALOG[err.code].hint);
      if (err.detail) console.error(`Detail: ${err.detail}`);
    }
    return 1;
  }
  const { token } = lease;

  console.log(
    bold(
      `1. Token request: grant_type=client_credentials, ` +
        `resource=${settings.api.resource}, scope=${settings.api.scope},`,
    ),
  );
  console.log(
    bold('   authenticated by this client assertion (client_assertion, signed just now):'),
  );
  printJwt(viewJwt(token.clientAssertion));
  console.log();
  console.log(
    bold(
      `2. Access token: token_type ${token.token_type}, expires_in ` +
        `${token.expires_in ?? '?'} s, scope ${token.scope ?? '(not stated)'}`,
    ),
  );
  printJwt(viewJwt(token.access_token));
  console.log();

  if (!local) {
    console.log(
      bold(
        `3. GET ${settings.api.messagesUrl} with Authorization: ` +
          (token.dpopKey
            ? 'DPoP <the access token> and a DPoP proof'
            : 'Bearer <the access token>'),
      ),
    );
    try {
      const answer = await callApi(settings.api.messagesUrl, token, settings.httpTimeoutMs);
      printAnswer(answer);
      return answer.status === 200 ? 0 : 1;
    } catch (err) {
      if (!isNetworkError(err)) throw err;
      console.log(`   The app does not answer at ${settings.appUrl} (${describeError(err)}).`);
      console.log(
        '   Judging the token here instead, with the API’s own checks (lib/resource-server.ts):',
      );
      return (await judgeLocally(token.access_token, token.dpopKey !== undefined)) ? 0 : 1;
    }
  }
  console.log(bold('3. The API’s checks (lib/resource-server.ts), run here (--local):'));
  return (await judgeLocally(token.access_token, token.dpopKey !== undefined)) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) console.error(`\n${err.message}\n`);
    else if (err instanceof AuthError)
      console.error(
        `\n✗ ${AUTH_ERROR_CATALOG[err.code].title} ` +
          `(${err.code}).\n${AUTH_ERROR_CATALOG[err.code].hint}\n${err.detail ?? ''}`,
      );
    else console.error(`client-credentials: ${describeError(err)}`);
    process.exit(1);
  },
);
