import { randomBytes } from 'node:crypto';

import * as client from 'openid-client';

import { JWT_BEARER_ASSERTION_TYPE } from './client-assertion';
import type { AppConfig } from './config';
import { sendRequest } from './http-transport';
import { viewJwt, type JwtView } from './jwt-view';
import { describeError } from './log';
import {
  describeTokenEndpointAnswer,
  judgeClientAuthentication,
  readTokenEndpointAnswer,
  type ClientAuthVerdict,
  type TokenEndpointAnswer,
} from './token-endpoint-answer';

/**
 * One token request sent to find out whether the provider accepts a client authentication, with
 * everything that was sent and everything that came back recorded. Used by `npm run doctor` and
 * `npm run provider-check`; nothing here is used by the app's own sign-in.
 *
 * The request goes through openid-client with the client authentication under test. By default it
 * redeems a made-up authorization code: a provider authenticates the client before it looks at the
 * grant, so `invalid_grant` means the client authentication passed and a refusal (`invalid_client`,
 * or any 400/401/403 that is not `invalid_grant`) means it did not. Nothing is changed at the
 * provider; a made-up code cannot be redeemed.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 */

export type ProbeTarget = {
  readonly metadata: client.ServerMetadata;
  readonly clientId: string;
  /** The redirect URI sent with the made-up code. */
  readonly redirectUri: string;
  readonly timeoutMs: number;
};

/** `authorization_code`: a made-up code. `client_credentials`: a real token request. */
export type ProbeGrant = 'authorization_code' | 'client_credentials';

export type ProbeResult = {
  /** The assertion sent, decoded (header and claims), when one was. */
  readonly assertion: JwtView | undefined;
  /** The names of the body parameters sent (values may be secrets). */
  readonly parameters: readonly string[];
  readonly answer: TokenEndpointAnswer | undefined;
  /** Why there was no answer (network failure, timeout, or the request was never sent). */
  readonly failure: string | undefined;
  /** One line: the answer ({@link describeTokenEndpointAnswer}), or why there was none. */
  readonly answered: string;
  readonly verdict: ClientAuthVerdict | 'no_answer';
  readonly ms: number;
};

export type ProbeOptions = {
  readonly grant?: ProbeGrant | undefined;
  /** Extra body parameters (a `client_secret` alongside, for provider-check). */
  readonly extra?: Readonly<Record<string, string>> | undefined;
};

/**
 * The provider's metadata, discovered afresh for a tool (not the app's cached context) and without
 * a client authentication of its own: each probe brings the one under test.
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 */
export function discoverForProbes(
  settings: Pick<AppConfig, 'issuer' | 'clientId' | 'httpTimeoutMs'>,
): Promise<client.Configuration> {
  return client.discovery(new URL(settings.issuer), settings.clientId, undefined, client.None(), {
    // Plain http only for a loopback issuer (lib/config.ts refuses it elsewhere).
    execute: settings.issuer.startsWith('http:') ? [client.allowInsecureRequests] : [],
    timeout: settings.httpTimeoutMs / 1000,
    // MUST: the app's bounded transport, not `fetch`: a metadata document without end (or a small
    // compressed one that inflates to gigabytes) would otherwise be held whole in memory.
    [client.customFetch]: sendRequest,
  });
}

/** A code no provider issued: long enough to look real, marked as a probe. */
function madeUpCode(): string {
  return `probe-not-a-real-code-${randomBytes(16).toString('base64url')}`;
}

function bodyOf(init: RequestInit | undefined): URLSearchParams | undefined {
  const body = init?.body;
  if (body instanceof URLSearchParams) return body;
  if (typeof body === 'string') return new URLSearchParams(body);
  return undefined;
}

/**
 * Sends one token request authenticated by `auth` and records it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3 (the made-up code's request)
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4.2 (client credentials)
 */
export async function sendTokenProbe(
  target: ProbeTarget,
  auth: client.ClientAuth,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const config = new client.Configuration(
    target.metadata,
    target.clientId,
    { token_endpoint_auth_method: 'private_key_jwt' },
    auth,
  );
  config.timeout = target.timeoutMs / 1000;
  if (target.metadata.token_endpoint?.startsWith('http:')) client.allowInsecureRequests(config);
  let answer: TokenEndpointAnswer | undefined;
  let sent: URLSearchParams | undefined;
  config[client.customFetch] = async (url, init) => {
    sent = bodyOf(init as RequestInit);
    // MUST: the app's bounded transport (at most MAX_RESPONSE_BYTES as received and as decoded),
    // not `fetch`: the answer is read whole, here and by openid-client, and comes from whatever
    // the discovered token endpoint is.
    const response = await sendRequest(url, init);
    answer = await readTokenEndpointAnswer(response);
    return response;
  };
  const started = performance.now();
  let failure: string | undefined;
  try {
    if (options.grant === 'client_credentials') {
      await client.clientCredentialsGrant(config, { ...options.extra });
    } else {
      await client.genericGrantRequest(config, 'authorization_code', {
        code: madeUpCode(),
        redirect_uri: target.redirectUri,
        code_verifier: client.randomPKCECodeVerifier(),
        ...options.extra,
      });
    }
  } catch (err) {
    // The answer was recorded; what openid-client made of it does not matter here.
    if (!answer) failure = describeError(err);
  }
  return {
    assertion: viewJwt(sent?.get('client_assertion') ?? undefined),
    parameters: sent ? [...new Set(sent.keys())] : [],
    answer,
    failure,
    answered: answer ? describeTokenEndpointAnswer(answer) : `no answer: ${failure ?? 'not sent'}`,
    verdict: answer ? judgeClientAuthentication(answer) : 'no_answer',
    ms: Math.round(performance.now() - started),
  };
}

/**
 * openid-client client authentication that sends `assertion` as it is (already signed, for
 * provider-check's deliberately bad assertions).
 */
export function sendAssertionAsIs(assertion: string): client.ClientAuth {
  return (_as, clientMetadata, body) => {
    body.set('client_id', clientMetadata.client_id);
    body.set('client_assertion_type', JWT_BEARER_ASSERTION_TYPE);
    body.set('client_assertion', assertion);
  };
}
