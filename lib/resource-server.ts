import {
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';

import { ACCESS_TOKEN_ALGS } from './algorithms';
import { readAccessTokenCredentials, type AuthScheme, type Challenge } from './bearer';
import { getConfig } from './config';
import { createDpopNonces } from './dpop-nonce';
import { verifyDpopProof, type DpopProofPolicy } from './dpop-proof';
import { describeError } from './log';
import { getProvider } from './discovery';
import { processSingleton } from './process-slot';
import { JWKS_UNAVAILABLE, type ProviderJwks } from './provider-jwks';
import { getReplayStore } from './replay-store-config';

/**
 * The resource server: decides whether a request to the protected API carries an access token
 * that this API may accept, following the JWT profile for OAuth 2.0 access tokens (RFC 9068 §4)
 * and the bearer-token rules of RFC 6750.
 *
 * Checks, cheapest first, so that junk never costs a request to the provider:
 * 1. the request carries exactly one syntactically valid bearer token (./bearer.ts);
 * 2. it is a JWS whose header names an allowed asymmetric `alg` (never `none`, never HMAC) and
 *    `typ` `at+jwt` (RFC 9068 §2.1, §4: an ID token, or any other JWT the provider signed, is not
 *    an access token even with a valid signature);
 * 3. its signature verifies with the provider's published keys (cached; refetched on an unknown
 *    `kid` at most once per cooldown, since anyone can send a token: ./provider-jwks.ts);
 * 4. `iss` is the provider's issuer identifier, `aud` contains this API's resource indicator,
 *    `exp` / `nbf` hold (small clock tolerance), and the claims RFC 9068 §2.2 makes mandatory are
 *    there;
 * 5. the token's binding matches how it came: a Bearer token has no `cnf` (a sender-constrained
 *    token is worthless without its key, RFC 9449 §7.2); a DPoP token (`Authorization: DPoP`) has
 *    `cnf.jkt` and comes with a valid proof by that key for this request (./dpop-proof.ts);
 * 6. `scope` contains the API's scope, else 403 `insufficient_scope` (RFC 6750 §3.1).
 *
 * Every failure caused by the request is an answer (400/401/403), never an exception. Failures
 * that are not the request's fault (the provider's keys cannot be fetched) are a 503, so a client
 * does not throw away a good token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4 (validating JWT access tokens)
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (error codes)
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1 (algorithm allowlist)
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7 (DPoP-protected resource access)
 */

/** What the API reads of a request: its headers, URL and method (GET when absent). */
export type ApiRequest = Pick<Request, 'headers' | 'url'> & { readonly method?: string };

/** What the API trusts about its caller once a token is accepted. */
export type AccessTokenClaims = JWTPayload & {
  readonly iss: string;
  readonly sub: string;
  readonly client_id: string;
  readonly scope: string;
};

export type ResourceServerPolicy = {
  /** The provider's issuer identifier: `iss` must equal it exactly. */
  readonly issuer: string;
  /** This API's resource indicator: `aud` must contain it (RFC 9068 §4, RFC 8707). */
  readonly audience: string;
  /** The scope every request needs. */
  readonly requiredScope: string;
  /** `realm` of the challenges. */
  readonly realm: string;
  /** Allowed JWS algorithms; defaults to {@link ACCESS_TOKEN_ALGS}. */
  readonly algorithms?: readonly string[];
  /** Tolerated clock difference with the provider, seconds. */
  readonly clockToleranceSeconds?: number;
  /** DPoP (RFC 9449 §7); without it only Bearer tokens are understood. */
  readonly dpop?: ApiDpopPolicy | undefined;
};

/** How the API treats DPoP: the proof checks, and what it announces and demands. */
export type ApiDpopPolicy = DpopProofPolicy & {
  /** Announce `DPoP algs=…` to Bearer and anonymous requests (RFC 9449 §7.2). */
  readonly advertised: boolean;
  /** Accept only DPoP-bound tokens (FAPI 2.0: sender-constrained tokens only). */
  readonly required: boolean;
  /**
   * This API's origin as clients address it. The URL a server sees can differ (a bind address,
   * a proxy); `htu` is compared with this origin and the request's path.
   */
  readonly publicOrigin?: string | undefined;
};

/** How an accepted token was bound: not at all (Bearer), or to the DPoP key that proved it. */
export type TokenBinding =
  { readonly scheme: 'bearer' } | { readonly scheme: 'dpop'; readonly jkt: string };

export type Authorization =
  | {
      readonly ok: true;
      readonly claims: AccessTokenClaims;
      readonly header: ProtectedHeaderParameters;
      /** How the token came: a Bearer token, or a DPoP-bound one with its proof's key. */
      readonly binding: TokenBinding;
      /** Headers to send with the answer (`DPoP-Nonce`, RFC 9449 §8.2, §9). */
      readonly headers?: Readonly<Record<string, string>> | undefined;
    }
  /** Refused for what the request carries; answer with the challenges (./bearer.ts). */
  | {
      readonly ok: false;
      readonly status: 400 | 401 | 403;
      /** The challenge that carries the error, in the scheme the request used. */
      readonly challenge: Challenge;
      /** Bare challenges of the other schemes the API accepts. */
      readonly others?: readonly Challenge[] | undefined;
      /** Headers to send with the answer (`DPoP-Nonce`, RFC 9449 §9). */
      readonly headers?: Readonly<Record<string, string>> | undefined;
      readonly reason: string;
    }
  /** Cannot decide now (the provider's keys are out of reach); not the token's fault. */
  | { readonly ok: false; readonly status: 503; readonly reason: string };

/** Seconds of clock difference tolerated on `exp` and `nbf`. Small: these tokens live minutes. */
export const ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS = 10;

/** The claims RFC 9068 §2.2 requires in every JWT access token. */
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];

/** jose failures that mean "this token is not acceptable" (anything else is ours or the provider's). */
const TOKEN_FAULTS = new Set([
  errors.JWTClaimValidationFailed.code,
  errors.JWTExpired.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
]);

/**
 * RFC 9068 §4: `typ` is `at+jwt` or `application/at+jwt`; media types compare case-insensitively.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export function isAccessTokenTyp(typ: unknown): boolean {
  return typeof typ === 'string' && typ.toLowerCase().replace(/^application\//, '') === 'at+jwt';
}

/** A short, fixed explanation of why jose refused a token (sent in error_description). */
function describeRefusal(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return 'The access token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud':
        return 'The access token is not for this API (aud)';
      case 'iss':
        return 'The access token was not issued by the expected issuer (iss)';
      case 'nbf':
        return 'The access token is not valid yet (nbf)';
      case 'typ':
        return 'Not an access token (typ must be at+jwt)';
      default:
        return `The access token lacks a valid ${err.claim.replace(/[^a-z_]/gi, '').slice(0, 30)} claim`;
    }
  }
  if (err instanceof errors.JWKSNoMatchingKey)
    return 'The access token is signed with a key the issuer does not publish';
  if (err instanceof errors.JWKSMultipleMatchingKeys)
    return 'The access token names no key (kid) and the issuer publishes several';
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return 'The access token signature is invalid';
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return 'The access token algorithm is not accepted';
  return 'The access token is malformed';
}

function invalidToken(realm: string, description: string, reason = description): Authorization {
  return {
    ok: false,
    status: 401,
    challenge: { realm, error: 'invalid_token', error_description: description },
    reason,
  };
}

/** How a token was presented: as a bearer token, or with a DPoP proof of its key. */
export type TokenPresentation =
  | { readonly scheme: 'bearer' }
  | {
      readonly scheme: 'dpop';
      /** The `DPoP` header as received. */
      readonly proof: string | null;
      readonly method: string;
      /** The URL the client addressed (public origin, path, query). */
      readonly url: URL;
    };

/**
 * The challenges of a refusal: the one with the error in the scheme the request used, then a bare
 * one per other scheme the API takes (RFC 9449 §7.2), and a fresh nonce when the API wants them.
 */
function frame(
  result: Authorization,
  policy: ResourceServerPolicy,
  scheme: AuthScheme | undefined,
): Authorization {
  const dpop = policy.dpop;
  if (result.ok || result.status === 503 || !dpop) return result;
  const nonce = dpop.nonces ? { 'dpop-nonce': dpop.nonces.current() } : undefined;
  const algs = dpop.algorithms.join(' ');
  // Anonymous requests get the scheme the API prefers first: DPoP when it is the only one.
  const primary: AuthScheme = scheme ?? (dpop.required ? 'dpop' : 'bearer');
  const challenge: Challenge = {
    ...result.challenge,
    scheme: primary,
    ...(primary === 'dpop' ? { algs } : {}),
  };
  const others: Challenge[] = [];
  if (primary !== 'bearer' && !dpop.required) others.push({ realm: policy.realm });
  if (primary !== 'dpop' && (dpop.advertised || dpop.required))
    others.push({ scheme: 'dpop', realm: policy.realm, algs });
  return { ...result, challenge, others, headers: { ...result.headers, ...nonce } };
}

/**
 * Validates a bearer token as a JWT access token for this API (checks 2 to 5 above).
 *
 * @param jwks The provider's keys; a function so that an unreachable provider costs nothing
 *   until a token has passed the local checks.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export async function verifyAccessToken(
  token: string,
  policy: ResourceServerPolicy,
  jwks: () => Promise<ProviderJwks>,
  presentation: TokenPresentation = { scheme: 'bearer' },
): Promise<Authorization> {
  const { realm } = policy;
  const algorithms = [...(policy.algorithms ?? ACCESS_TOKEN_ALGS)];

  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return invalidToken(realm, 'The access token is not a JWT');
  }
  // MUST: the algorithm allowlist is checked before any key is looked up: `none` and HMAC never
  // reach verification (RFC 9068 §4, RFC 8725 §3.1).
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
    return invalidToken(
      realm,
      'The access token algorithm is not accepted',
      `alg ${String(header.alg).slice(0, 20)} refused`,
    );
  }
  // MUST: explicit typing keeps ID tokens, logout tokens and client assertions out (RFC 9068 §4).
  if (!isAccessTokenTyp(header.typ)) {
    return invalidToken(
      realm,
      'Not an access token (typ must be at+jwt)',
      `typ ${String(header.typ).slice(0, 40)} refused`,
    );
  }

  let keys: ProviderJwks;
  try {
    keys = await jwks();
  } catch (err) {
    return { ok: false, status: 503, reason: `provider keys unavailable: ${describeError(err)}` };
  }

  let payload: JWTPayload;
  try {
    ({ payload } = await keys.verify(
      token,
      {
        algorithms,
        typ: 'at+jwt',
        issuer: policy.issuer,
        audience: policy.audience,
        requiredClaims: REQUIRED_CLAIMS,
        clockTolerance: policy.clockToleranceSeconds ?? ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS,
      },
      // MUST: bearer tokens are untrusted input: an unknown kid refetches the provider's keys at
      // most once per cooldown, so junk kids cannot turn this API into a JWKS flood.
      false,
    ));
  } catch (err) {
    if (err instanceof errors.JOSEError && TOKEN_FAULTS.has(err.code)) {
      return invalidToken(realm, describeRefusal(err), describeError(err));
    }
    // Timeouts, network errors, a malformed JWKS: the provider's side, not the token's.
    if ((err as { code?: unknown }).code === JWKS_UNAVAILABLE) {
      return {
        ok: false,
        status: 503,
        reason: `cannot verify access tokens now: ${describeError(err)}`,
      };
    }
    // Anything else is about this token and the key it names: signed by a key jose refuses (an
    // RSA key under 2048 bits, RFC 7518 §3.3), or one it cannot use. The keys were obtained, so
    // the token does not verify: 401, not a 503 that tells the client to come back later.
    return invalidToken(realm, 'The access token could not be verified', describeError(err));
  }

  let binding: TokenBinding = { scheme: 'bearer' };
  if (presentation.scheme === 'bearer') {
    // MUST: a sender-constrained token (DPoP, RFC 9449 §6; mTLS, RFC 8705 §3) carries `cnf` and is
    // good only with proof of its key, which a Bearer request does not give: accepting it would
    // let a stolen token work without its key (RFC 9449 §7.2).
    if (payload.cnf !== undefined) {
      return invalidToken(
        realm,
        'A sender-constrained access token cannot be used as a bearer token',
        'cnf present on a Bearer request',
      );
    }
    if (policy.dpop?.required) {
      return invalidToken(
        realm,
        'This API accepts only DPoP-bound access tokens',
        'Bearer token refused: DPoP required',
      );
    }
  } else {
    const dpop = policy.dpop;
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    const jkt = typeof cnf === 'object' && cnf !== null ? cnf.jkt : undefined;
    // MUST: the DPoP scheme carries only DPoP-bound tokens (RFC 9449 §7.1): a proof of some key
    // proves nothing about a token that is bound to none.
    if (!dpop || typeof jkt !== 'string') {
      return invalidToken(
        realm,
        'The access token is not DPoP-bound',
        'no cnf.jkt on a DPoP request',
      );
    }
    const proof = await verifyDpopProof({ ...presentation, accessToken: token, jkt }, dpop);
    if (!proof.ok) {
      if (proof.error === 'unavailable')
        return { ok: false, status: 503, reason: `DPoP replay check: ${proof.reason}` };
      return {
        ok: false,
        status: 401,
        challenge: { realm, error: proof.error, error_description: proof.description },
        reason: `DPoP proof: ${proof.reason}`,
      };
    }
    binding = { scheme: 'dpop', jkt: proof.jkt };
  }
  const { client_id, scope } = payload;
  if (typeof client_id !== 'string' || typeof payload.sub !== 'string') {
    return invalidToken(realm, 'The access token lacks a valid client_id or sub claim');
  }
  // RFC 9068 §2.2.3: `scope` is a space-separated string (RFC 8693 §4.2). Another shape is a
  // malformed token; a missing or different scope is a token without the needed permission.
  if (scope !== undefined && typeof scope !== 'string') {
    return invalidToken(realm, 'The access token scope claim is not a string');
  }
  const granted = scope === undefined ? [] : scope.split(' ');
  if (!granted.includes(policy.requiredScope)) {
    return {
      ok: false,
      status: 403,
      challenge: {
        realm,
        error: 'insufficient_scope',
        error_description: `The access token lacks the ${policy.requiredScope} scope`,
        scope: policy.requiredScope,
      },
      reason: `scope "${String(scope ?? '').slice(0, 100)}" lacks ${policy.requiredScope}`,
    };
  }
  return {
    ok: true,
    header,
    binding,
    ...(policy.dpop?.nonces ? { headers: { 'dpop-nonce': policy.dpop.nonces.current() } } : {}),
    claims: {
      ...payload,
      iss: String(payload.iss),
      sub: payload.sub,
      client_id,
      scope: scope ?? '',
    },
  };
}

/**
 * The request's path and query at `origin`. MUST: set on a URL, not resolved as a reference: a
 * path that starts with `//` would otherwise name the host, and `htu` be checked against it.
 */
function atOrigin(url: URL, origin: string): URL {
  const target = new URL(origin);
  target.pathname = url.pathname;
  target.search = url.search;
  return target;
}

/**
 * Decides a request to the protected API: its credentials (RFC 6750 §2.1), then its token.
 * Never throws for anything the request carries.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export async function authorizeRequest(
  request: ApiRequest,
  policy: ResourceServerPolicy,
  jwks: () => Promise<ProviderJwks>,
): Promise<Authorization> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    url = new URL('http://invalid.invalid/');
  }
  const schemes: readonly AuthScheme[] = policy.dpop ? ['bearer', 'dpop'] : ['bearer'];
  const credentials = readAccessTokenCredentials(
    request.headers.get('authorization'),
    url,
    schemes,
  );
  let result: Authorization;
  switch (credentials.kind) {
    case 'none':
      result = {
        ok: false,
        status: 401,
        challenge: { realm: policy.realm },
        reason: credentials.reason,
      };
      break;
    case 'invalid_request':
      result = {
        ok: false,
        status: 400,
        challenge: {
          realm: policy.realm,
          error: 'invalid_request',
          error_description: credentials.description,
        },
        reason: credentials.description,
      };
      break;
    case 'invalid_token':
      result = invalidToken(policy.realm, credentials.description);
      break;
    case 'token':
      result = await verifyAccessToken(
        credentials.token,
        policy,
        jwks,
        credentials.scheme === 'dpop'
          ? {
              scheme: 'dpop',
              proof: request.headers.get('dpop'),
              method: request.method ?? 'GET',
              url: policy.dpop?.publicOrigin ? atOrigin(url, policy.dpop.publicOrigin) : url,
            }
          : { scheme: 'bearer' },
      );
      break;
  }
  return frame(result, policy, credentials.kind === 'token' ? credentials.scheme : undefined);
}

/**
 * This app's API policy: the configured issuer, API resource indicator and scope.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2 (resource indicator as audience)
 */
export function getApiPolicy(): ResourceServerPolicy {
  const { issuer, api, appUrl, protocol, sessionSecret } = getConfig();
  const { apiDpop } = protocol;
  return {
    issuer,
    audience: api.resource,
    requiredScope: api.scope,
    realm: api.resource,
    dpop: {
      algorithms: apiDpop.algorithms,
      advertised: apiDpop.advertised,
      required: apiDpop.required,
      publicOrigin: appUrl,
      replay: getReplayStore(),
      nonces: apiDpop.nonce
        ? processSingleton('api-dpop-nonces', () => createDpopNonces(sessionSecret))
        : undefined,
    },
  };
}

/**
 * The provider's keys as this app discovered them (one cache with ID-token verification).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2 (jwks_uri)
 */
export async function getProviderJwks(): Promise<ProviderJwks> {
  return (await getProvider()).jwks;
}

/**
 * Decides a request to this app's protected API.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
export function authorizeApiRequest(request: ApiRequest): Promise<Authorization> {
  return authorizeRequest(request, getApiPolicy(), getProviderJwks);
}
