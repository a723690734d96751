import { createHash } from 'node:crypto';

import type { BackChannelRequest } from './back-channel';
import type { SignInFlowView } from './flow-view';
import { viewJwt, type JwtView } from './jwt-view';

/**
 * The flow inspector's record: what the last sign-in (or client-credentials token request) sent
 * and received, step by step with timings, kept so that `/inspector` can show it to the signed-in
 * user. It is a small structure of its own, bounded in size ({@link MAX_FLOW_RECORD_LENGTH}) and
 * kept with the session (./flow-store.ts): tokens are kept
 * decoded (header and claims), never whole; the authorization code only shortened; no secret the
 * app holds (the PKCE verifier, the private key, the session secret) is in it. Nothing of it is
 * ever logged.
 *
 * The checks shown beside each step (./flow-checks.ts) are computed from these facts when the
 * page is rendered.
 */

export const FLOW_RECORD_VERSION = 1;

/** Characters of the authorization code kept for display. */
const CODE_PREFIX = 6;

/** A back-channel request on the timeline: ms from the start of the flow's server-side part. */
export type FlowRequest = {
  readonly method: string;
  readonly url: string;
  readonly status?: number | undefined;
  readonly at: number;
  readonly ms: number;
};

/** The values the checks compare against, as configured when the flow ran. */
export type FlowExpectations = {
  readonly issuer: string;
  readonly clientId: string;
  readonly tokenEndpoint: string | undefined;
  /** The `aud` this app puts in its assertions. */
  readonly assertionAudience: string;
  readonly assertionLifetime: number;
  readonly assertionTyp: boolean;
  readonly idTokenAlg: string;
  /** Whether the provider announces RFC 9207 `iss` in authorization responses. */
  readonly issAdvertised: boolean;
  /** The algorithms the provider accepts on client assertions, when it says. */
  readonly assertionAlgs?: readonly string[] | undefined;
};

/** A token, decoded when it is a JWT; otherwise its length only. */
export type TokenSummary =
  | { readonly kind: 'jwt'; readonly jwt: JwtView; readonly length: number | undefined }
  | { readonly kind: 'opaque'; readonly length: number };

export type SignInFlowRecord = {
  readonly v: typeof FLOW_RECORD_VERSION;
  readonly kind: 'sign-in';
  /** Whose sign-in: the page shows it only to the same user. */
  readonly sub: string;
  /** Wall clock (ms): the authorization request was built. */
  readonly startedAt: number;
  /** Wall clock (ms): the callback began. */
  readonly callbackAt: number;
  /** Server-side duration of the callback up to the session (ms). */
  readonly totalMs: number;
  readonly expect: FlowExpectations;
  readonly authorization: {
    readonly endpoint: string;
    readonly params: Readonly<Record<string, string>>;
  };
  readonly response: {
    /** The first characters of the code, and its length. */
    readonly code: string;
    readonly codeLength: number;
    readonly stateMatched: boolean;
    readonly iss: string | undefined;
  };
  readonly token: {
    readonly endpoint: string | undefined;
    readonly at: number;
    readonly ms: number;
    readonly status: number | undefined;
    readonly assertion: JwtView | undefined;
  };
  readonly tokenResponse: {
    readonly token_type: string | undefined;
    readonly expires_in: number | undefined;
    readonly scope: string | undefined;
    readonly members: readonly string[];
    readonly idToken: TokenSummary | undefined;
    readonly accessToken: TokenSummary | undefined;
    /** Length of the refresh token, when one was issued. */
    readonly refreshToken: number | undefined;
  };
  readonly idToken: {
    /** Local validation, after the token response (ms from the callback's start). */
    readonly at: number;
    readonly ms: number;
    /** Seconds since the epoch when it was validated. */
    readonly validatedAt: number;
    readonly nonceMatched: boolean;
    /** `at_hash` against the access token (OIDC Core §3.1.3.8), when the token has one. */
    readonly atHashMatched: boolean | undefined;
  };
  readonly userinfo:
    | {
        readonly at: number;
        readonly ms: number;
        readonly subMatched: boolean;
        readonly claims: Readonly<Record<string, unknown>>;
      }
    | undefined;
  readonly requests: readonly FlowRequest[];
  /**
   * FAPI 2.0 parts, as /profile shows them (./flow-view.ts): the pushed authorization request
   * (RFC 9126) and the DPoP proofs and binding (RFC 9449), decoded. Absent for a plain sign-in.
   */
  readonly fapi?: SignInFlowView | undefined;
  /** What was left out to fit the bound, said on the page. */
  readonly trimmed?: readonly string[] | undefined;
};

export type ClientCredentialsFlowRecord = {
  readonly v: typeof FLOW_RECORD_VERSION;
  readonly kind: 'client-credentials';
  readonly sub: string;
  /** `token_endpoint`: requested for this call; otherwise the token came from the cache. */
  readonly source: string;
  /** Wall clock (ms): the token request was sent. */
  readonly startedAt: number;
  readonly expect: FlowExpectations;
  readonly request: {
    readonly endpoint: string | undefined;
    readonly params: Readonly<Record<string, string>>;
    readonly assertion: JwtView | undefined;
    readonly ms: number | undefined;
    readonly status: number | undefined;
  };
  readonly tokenResponse: {
    readonly token_type: string | undefined;
    readonly expires_in: number | undefined;
    readonly scope: string | undefined;
    readonly accessToken: TokenSummary | undefined;
  };
  readonly api: { readonly url: string; readonly status: number; readonly ms: number } | undefined;
  readonly trimmed?: readonly string[] | undefined;
};

/** A refresh grant for the signed-in user's API token (RFC 6749 §6, with RFC 8707 `resource`). */
export type RefreshFlowRecord = {
  readonly v: typeof FLOW_RECORD_VERSION;
  readonly kind: 'refresh';
  readonly sub: string;
  /** Wall clock (ms): when the call that refreshed was made. */
  readonly startedAt: number;
  readonly expect: FlowExpectations;
  readonly request: {
    readonly endpoint: string | undefined;
    /** The parameters sent (the refresh token itself is not kept). */
    readonly params: Readonly<Record<string, string>>;
    readonly assertion: JwtView | undefined;
  };
  readonly tokenResponse: {
    readonly scope: string | undefined;
    /** Wall clock (ms) the new access token expires. */
    readonly expiresAt: number | undefined;
    readonly accessToken: TokenSummary | undefined;
  };
  readonly api: { readonly url: string; readonly status: number; readonly ms: number } | undefined;
  readonly trimmed?: readonly string[] | undefined;
};

export type FlowRecord = SignInFlowRecord | ClientCredentialsFlowRecord | RefreshFlowRecord;

/** `abc123…` (the rest is a bearer credential until redeemed). */
export function shortenCode(code: string): string {
  return code.length > CODE_PREFIX ? `${code.slice(0, CODE_PREFIX)}…` : '…';
}

/** A token as the inspector keeps it: decoded, or its length. */
export function summarizeToken(token: string | undefined): TokenSummary | undefined {
  if (!token) return undefined;
  const jwt = viewJwt(token);
  return jwt
    ? { kind: 'jwt', jwt, length: token.length }
    : { kind: 'opaque', length: token.length };
}

/**
 * Whether `at_hash` is the left half of the access token's hash (SHA-256 for the 256-bit
 * algorithms this app accepts).
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeIDToken (at_hash)
 */
export function matchesAtHash(
  atHash: unknown,
  accessToken: string | undefined,
  alg: unknown,
): boolean | undefined {
  if (typeof atHash !== 'string' || !accessToken) return undefined;
  const bits = typeof alg === 'string' ? Number(/(\d{3})$/.exec(alg)?.[1] ?? 256) : 256;
  const hash = createHash(bits === 512 ? 'sha512' : bits === 384 ? 'sha384' : 'sha256')
    .update(accessToken)
    .digest();
  return hash.subarray(0, hash.length / 2).toString('base64url') === atHash;
}

/** Back-channel requests relative to `origin` (a `performance.now()` value). */
export function placeRequests(
  requests: readonly BackChannelRequest[],
  origin: number,
): FlowRequest[] {
  return requests.map((r) => ({
    method: r.method,
    url: r.url,
    status: r.status,
    at: Math.round(r.start === undefined ? 0 : r.start - origin),
    ms: r.ms,
  }));
}

/**
 * The largest record kept, in bytes of its JSON (UTF-8, as Redis keeps it): every session may hold
 * one record of each kind, so the store's memory (or Redis's) stays bounded whatever the provider
 * sends, in any script. A usual sign-in takes 3 to 5 KB.
 */
export const MAX_FLOW_RECORD_LENGTH = 12_000;

const KEEP_ID_TOKEN_CLAIMS = [
  'iss',
  'sub',
  'aud',
  'azp',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'acr',
  'at_hash',
];

function pick(claims: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(claims).filter(([name]) => names.includes(name)));
}

function trimToken(
  token: TokenSummary | undefined,
  names: readonly string[],
): TokenSummary | undefined {
  if (token?.kind !== 'jwt') return token;
  return { ...token, jwt: { header: token.jwt.header, payload: pick(token.jwt.payload, names) } };
}

/** Ever smaller versions of a record: what is dropped first matters least. */
function* shrink(record: FlowRecord): Generator<FlowRecord> {
  yield record;
  const standard = ['iss', 'sub', 'aud', 'client_id', 'scope', 'exp', 'iat', 'jti'];
  const note = ['access token claims other than the standard ones'];
  if (record.kind === 'client-credentials') {
    const accessToken = trimToken(record.tokenResponse.accessToken, standard);
    yield { ...record, tokenResponse: { ...record.tokenResponse, accessToken }, trimmed: note };
    return;
  }
  if (record.kind === 'refresh') {
    const accessToken = trimToken(record.tokenResponse.accessToken, standard);
    yield { ...record, tokenResponse: { ...record.tokenResponse, accessToken }, trimmed: note };
    return;
  }
  const trimmed: string[] = [];
  let current: SignInFlowRecord = record;
  /** Applies one reduction, when it changes anything, and notes it. */
  function* reduce(
    note: string,
    change: (r: SignInFlowRecord) => SignInFlowRecord | undefined,
  ): Generator<FlowRecord> {
    const next = change(current);
    // A reduction that saves nothing would only lengthen the list of what was left out. In bytes,
    // as the bound counts: "…" is one character but three bytes.
    if (
      !next ||
      Buffer.byteLength(JSON.stringify(next)) >= Buffer.byteLength(JSON.stringify(current))
    )
      return;
    trimmed.push(note);
    current = { ...next, trimmed: [...trimmed] };
    yield current;
  }
  yield* reduce('UserInfo values (their names are kept)', (r) =>
    r.userinfo
      ? {
          ...r,
          userinfo: {
            ...r.userinfo,
            claims: Object.fromEntries(Object.keys(r.userinfo.claims).map((k) => [k, '…'])),
          },
        }
      : undefined,
  );
  // The pushed parameters are the authorization request's, shown in step 1 already.
  yield* reduce('PAR parameters', (r) =>
    r.fapi?.par ? { ...r, fapi: { ...r.fapi, par: { ...r.fapi.par, parameters: {} } } } : undefined,
  );
  // Every proof carries the same public key; its thumbprint (cnf.jkt) stays on the page.
  yield* reduce('proof keys', (r) =>
    r.fapi?.dpop?.proofs.length
      ? {
          ...r,
          fapi: {
            ...r.fapi,
            dpop: { ...r.fapi.dpop, proofs: r.fapi.dpop.proofs.map(compactProofKey) },
          },
        }
      : undefined,
  );
  yield* reduce('access token claims', (r) => ({
    ...r,
    tokenResponse: {
      ...r.tokenResponse,
      accessToken: r.tokenResponse.accessToken && {
        kind: 'opaque',
        length: r.tokenResponse.accessToken.length ?? 0,
      },
    },
  }));
  yield* reduce('ID token claims not checked', (r) => ({
    ...r,
    tokenResponse: {
      ...r.tokenResponse,
      idToken: trimToken(r.tokenResponse.idToken, KEEP_ID_TOKEN_CLAIMS),
    },
  }));
  yield* reduce('the request list', (r) => ({ ...r, requests: [] }));
  // The PAR request's assertion is made like the token request's, shown whole in step 3.
  yield* reduce('PAR assertions, proofs', (r) =>
    r.fapi?.par
      ? {
          ...r,
          fapi: {
            ...r.fapi,
            par: {
              ...r.fapi.par,
              // In authorization_url too.
              request_uri: '',
              attempts: r.fapi.par.attempts.map((a) => ({
                status: a.status,
                client_assertion: undefined,
                dpop_proof: undefined,
              })),
            },
          },
        }
      : undefined,
  );
  // The first proof is the token request's: what binds the tokens (RFC 9449 §5).
  yield* reduce('later proofs', (r) => {
    const first = r.fapi?.dpop?.proofs[0];
    if (!r.fapi?.dpop || !first) return undefined;
    const proof = {
      header: pick(first.header, ['typ', 'alg']),
      payload: pick(first.payload, ['htm', 'htu']),
    };
    return { ...r, fapi: { ...r.fapi, dpop: { ...r.fapi.dpop, proofs: [proof] } } };
  });
  yield* reduce('state, nonce, challenge', (r) => ({
    ...r,
    authorization: {
      ...r.authorization,
      params: Object.fromEntries(
        Object.entries(r.authorization.params).map(([name, value]) => [
          name,
          ['state', 'nonce', 'code_challenge'].includes(name) ? shortenCode(value) : value,
        ]),
      ),
    },
  }));
  yield* reduce('UserInfo names', (r) =>
    r.userinfo ? { ...r, userinfo: { ...r.userinfo, claims: {} } } : undefined,
  );
  yield* reduce('member names', (r) => ({
    ...r,
    tokenResponse: { ...r.tokenResponse, members: [] },
  }));
  // Last resort: the record of the plain steps, as before the FAPI parts were recorded.
  yield* reduce('PAR and DPoP details', (r) => (r.fapi ? { ...r, fapi: undefined } : undefined));
}

/** A DPoP proof with only the type of its public key: the key itself is the session's. */
function compactProofKey(proof: JwtView): JwtView {
  const jwk = proof.header.jwk as { kty?: unknown; crv?: unknown } | undefined;
  return jwk
    ? { ...proof, header: { ...proof.header, jwk: { kty: jwk.kty, crv: jwk.crv } } }
    : proof;
}

/**
 * The record, trimmed until its JSON takes at most `maxLength` bytes (UTF-8); undefined when even
 * the smallest does not fit (then nothing is kept).
 *
 * @returns the record kept and its JSON.
 */
export function fitFlowRecord(
  record: FlowRecord,
  maxLength = MAX_FLOW_RECORD_LENGTH,
): { record: FlowRecord; json: string } | undefined {
  for (const candidate of shrink(record)) {
    const json = JSON.stringify(candidate);
    // Bytes, not characters: a claim in another script takes up to three bytes a character.
    if (Buffer.byteLength(json) <= maxLength) return { record: candidate, json };
  }
  return undefined;
}

/** Narrows a stored value to a record of this version. */
export function isFlowRecord(value: unknown): value is FlowRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<FlowRecord>;
  return (
    v.v === FLOW_RECORD_VERSION &&
    (v.kind === 'sign-in' || v.kind === 'client-credentials' || v.kind === 'refresh') &&
    typeof v.sub === 'string' &&
    typeof v.startedAt === 'number'
  );
}
