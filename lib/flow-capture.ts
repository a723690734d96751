import type * as client from 'openid-client';

import type { AppConfig } from './config';
import { viewJwt } from './jwt-view';
import { JWT_BEARER_ASSERTION_TYPE, resolveAudience } from './client-assertion';
import {
  FLOW_RECORD_VERSION,
  matchesAtHash,
  placeRequests,
  shortenCode,
  summarizeToken,
  type ClientCredentialsFlowRecord,
  type FlowExpectations,
  type RefreshFlowRecord,
  type SignInFlowRecord,
} from './flow-record';
import { describeSignInFlow } from './flow-view';
import type { MachineCallOutcome } from './machine-call';
import type { UserApiCallOutcome } from './user-api-call';
import type { SignInResult } from './sign-in';
import type { Transaction } from './transaction';

/**
 * Turns what a finished flow left behind (the transaction, the callback's parameters, the sign-in
 * result with its back-channel trace and timings) into the flow inspector's record
 * (./flow-record.ts). Pure apart from the clock: no request, no cookie, no log.
 */

/** The values the inspector's checks compare against. */
export function captureExpectations(
  settings: AppConfig,
  metadata: Readonly<client.ServerMetadata>,
): FlowExpectations {
  return {
    issuer: settings.issuer,
    clientId: settings.clientId,
    tokenEndpoint: metadata.token_endpoint,
    assertionAudience: resolveAudience(settings.assertion.audience, metadata),
    assertionLifetime: settings.assertion.lifetimeSeconds,
    assertionTyp: settings.assertion.typ,
    idTokenAlg: settings.idTokenSignedResponseAlg,
    issAdvertised: metadata.authorization_response_iss_parameter_supported === true,
    assertionAlgs: metadata.token_endpoint_auth_signing_alg_values_supported,
  };
}

export type SignInCapture = {
  readonly transaction: Pick<Transaction, 'state' | 'nonce' | 'created_at'>;
  /** The authorization request's parameters, as sent (lib/sign-in.ts buildAuthorizationParameters). */
  readonly authorizationParams: Readonly<Record<string, string>>;
  readonly callbackParams: URLSearchParams;
  readonly result: SignInResult;
  readonly settings: AppConfig;
  readonly metadata: Readonly<client.ServerMetadata>;
  /** `performance.now()` and `Date.now()` when the callback began. */
  readonly callbackStart: number;
  readonly callbackAt: number;
};

function endpointOf(url: string | undefined): string | undefined {
  if (!url || !URL.canParse(url)) return undefined;
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** The token response's members that are data (openid-client adds helper functions). */
function dataMembers(tokens: object): string[] {
  return Object.entries(tokens)
    .filter(([, value]) => typeof value !== 'function')
    .map(([name]) => name);
}

/**
 * The inspector's record of a completed sign-in.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowSteps
 */
export function captureSignIn(input: SignInCapture): SignInFlowRecord {
  const { result, settings, metadata, callbackStart } = input;
  const origin = callbackStart;
  const tokenEndpoint = endpointOf(metadata.token_endpoint);
  const requests = placeRequests(result.trace.requests, origin);
  const tokenRequest = requests.find((r) => r.method === 'POST' && r.url === tokenEndpoint);
  const timing = result.timing;
  const tokens = result.tokens;
  const code = input.callbackParams.get('code') ?? '';
  const idTokenAt = timing ? Math.round(timing.tokens - origin) : 0;
  const header = summarizeToken(result.id_token);
  return {
    v: FLOW_RECORD_VERSION,
    kind: 'sign-in',
    sub: result.claims.sub,
    startedAt: input.transaction.created_at * 1000,
    callbackAt: input.callbackAt,
    totalMs: Math.round(performance.now() - origin),
    expect: captureExpectations(settings, metadata),
    authorization: {
      endpoint: endpointOf(metadata.authorization_endpoint) ?? '',
      params: { client_id: settings.clientId, ...input.authorizationParams },
    },
    response: {
      code: shortenCode(code),
      codeLength: code.length,
      stateMatched: input.callbackParams.get('state') === input.transaction.state,
      iss: input.callbackParams.get('iss') ?? undefined,
    },
    token: {
      endpoint: tokenEndpoint,
      at: tokenRequest?.at ?? 0,
      ms: tokenRequest?.ms ?? 0,
      status: tokenRequest?.status,
      assertion: viewJwt(result.clientAssertion),
    },
    tokenResponse: {
      token_type: tokens?.token_type,
      expires_in: tokens?.expires_in,
      scope: tokens?.scope,
      members: tokens ? dataMembers(tokens) : [],
      idToken: header,
      accessToken: summarizeToken(tokens?.access_token),
      refreshToken: tokens?.refresh_token?.length,
    },
    idToken: {
      at: idTokenAt,
      ms: timing ? Math.round(timing.idToken - timing.tokens) : 0,
      validatedAt: Math.floor(Date.now() / 1000),
      nonceMatched: result.claims.nonce === input.transaction.nonce,
      atHashMatched: matchesAtHash(
        result.claims.at_hash,
        tokens?.access_token,
        header?.kind === 'jwt' ? header.jwt.header.alg : undefined,
      ),
    },
    userinfo: result.userinfo
      ? {
          at: timing ? Math.round(timing.idToken - origin) : 0,
          ms: timing ? Math.round(timing.userinfo - timing.idToken) : 0,
          subMatched: result.userinfo.sub === result.claims.sub,
          claims: { ...result.userinfo },
        }
      : undefined,
    requests,
    fapi: describeSignInFlow(result),
  };
}

/**
 * The inspector's record of the client-credentials token request behind a `/machine` call: the
 * one just made, or, for a token from the cache, the one that obtained it. Undefined when no token
 * was obtained.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export function captureClientCredentials(
  outcome: MachineCallOutcome,
  sub: string,
  settings: AppConfig,
  metadata: Readonly<client.ServerMetadata>,
): ClientCredentialsFlowRecord | undefined {
  if (!('token' in outcome)) return undefined;
  const { token } = outcome;
  return {
    v: FLOW_RECORD_VERSION,
    kind: 'client-credentials',
    sub,
    source: token.source,
    startedAt: token.requestedAt,
    expect: captureExpectations(settings, metadata),
    request: {
      endpoint: endpointOf(metadata.token_endpoint),
      params: {
        grant_type: 'client_credentials',
        resource: settings.api.resource,
        scope: settings.api.scope,
        client_id: settings.clientId,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      },
      assertion: token.assertion,
      ms: token.tokenRequest?.ms,
      status: token.tokenRequest?.status,
    },
    tokenResponse: {
      token_type: token.token_type,
      expires_in: token.expires_in,
      scope: token.scope,
      accessToken: token.accessToken
        ? { kind: 'jwt', jwt: token.accessToken, length: undefined }
        : undefined,
    },
    api: outcome.ok
      ? { url: outcome.api.url, status: outcome.api.status, ms: outcome.api.ms }
      : undefined,
  };
}

/**
 * The inspector's record of the refresh grant behind a call of the API as the user, or undefined
 * when the call did not refresh (the stored token was used).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.2
 */
export function captureRefresh(
  outcome: UserApiCallOutcome,
  sub: string,
  settings: AppConfig,
  metadata: Readonly<client.ServerMetadata>,
): RefreshFlowRecord | undefined {
  if (!outcome.ok || outcome.token.source !== 'refreshed') return undefined;
  const { token } = outcome;
  return {
    v: FLOW_RECORD_VERSION,
    kind: 'refresh',
    sub,
    startedAt: Date.now(),
    expect: captureExpectations(settings, metadata),
    request: {
      endpoint: endpointOf(metadata.token_endpoint),
      params: {
        grant_type: 'refresh_token',
        refresh_token: '(the session’s refresh token, not shown)',
        resource: settings.api.resource,
        scope: settings.api.scope,
        client_id: settings.clientId,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      },
      assertion: token.refreshAssertion,
    },
    tokenResponse: {
      scope: token.scope,
      expiresAt: token.expiresAt,
      accessToken: token.accessToken
        ? { kind: 'jwt', jwt: token.accessToken, length: undefined }
        : undefined,
    },
    api: { url: outcome.api.url, status: outcome.api.status, ms: outcome.api.ms },
  };
}
