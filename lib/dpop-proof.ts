import { createHash } from 'node:crypto';

import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  errors,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';

import type { DpopNonces } from './dpop-nonce';
import { ReplayStoreUnavailableError, type ReplayStore } from './replay-store';

/**
 * The resource server's check of a DPoP proof (RFC 9449 §4.3, §7.1): the `DPoP` request header is
 * one JWT, explicitly typed `dpop+jwt`, signed with an allowed asymmetric algorithm by the public
 * key in its own `jwk` header, for this request's method (`htm`) and URL (`htu`), issued moments
 * ago (`iat`), for this access token (`ath`), by the key the token is bound to (`cnf.jkt`), with
 * the server's nonce when the server asks for one, and never seen before (`jti`).
 *
 * jose does the JOSE part (`jwtVerify` with `EmbeddedJWK`, `calculateJwkThumbprint`); this module
 * decides what to check and what to answer. Every failure is a value, never an exception.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3 (checking DPoP proofs)
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1 (DPoP-protected resource access)
 */

/** How long after its `iat` a proof is accepted, seconds (RFC 9449 §11.1: "a short window"). */
export const DPOP_PROOF_MAX_AGE_SECONDS = 60;
/** Clock difference tolerated on `iat`, seconds. */
export const DPOP_CLOCK_TOLERANCE_SECONDS = 5;
/** Longest DPoP header accepted: a proof with an RSA 4096 `jwk` is under 2 KiB. */
export const MAX_DPOP_PROOF_LENGTH = 8192;
/** Longest `jti` accepted (it is stored). */
const MAX_JTI_LENGTH = 256;

/** Members only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export type DpopProofPolicy = {
  /** Accepted proof algorithms (asymmetric only). */
  readonly algorithms: readonly string[];
  readonly replay: ReplayStore;
  /** Server nonces, when the server requires them (RFC 9449 §9). */
  readonly nonces?: DpopNonces | undefined;
  readonly maxAgeSeconds?: number;
  readonly clockToleranceSeconds?: number;
  /** Seconds since the epoch (tests). */
  readonly now?: () => number;
};

export type DpopProofRequest = {
  /** Every value of the `DPoP` header as received (Headers.get joins repeats with ", "). */
  readonly proof: string | null;
  readonly method: string;
  /** The request's URL as the client addressed it (this app's public origin and path). */
  readonly url: URL;
  /** The access token the proof must be for (`ath`). */
  readonly accessToken: string;
  /** The token's `cnf.jkt`: the key the proof must be signed with. */
  readonly jkt: string;
};

export type DpopProofOutcome =
  | {
      readonly ok: true;
      readonly jkt: string;
      readonly header: ProtectedHeaderParameters;
      readonly payload: JWTPayload;
    }
  | {
      readonly ok: false;
      /** RFC 9449 §7.1 / §9 error codes; `unavailable` when the replay store cannot decide. */
      readonly error: 'invalid_dpop_proof' | 'use_dpop_nonce' | 'unavailable';
      /** Fixed text for `error_description`. */
      readonly description: string;
      /** Log detail. */
      readonly reason: string;
    };

function refuse(description: string, reason = description): DpopProofOutcome {
  return { ok: false, error: 'invalid_dpop_proof', description, reason };
}

/** RFC 3986 §2.3 unreserved characters: percent-encoding them changes nothing (§6.2.2.2). */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * RFC 9449 §4.3 check 9 (`htu`): the URI without query and fragment. The WHATWG parser applies
 * most of RFC 3986 syntax- and scheme-based normalisation (case of scheme and host, default port,
 * dot segments) but leaves percent-encodings as written, so the path's are normalised here:
 * unreserved characters decoded, hex digits in upper case (§6.2.2.1, §6.2.2.2). That is what §4.3
 * asks servers to do before comparing.
 *
 * @returns undefined when `value` is not an http(s) URL.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-6.2.2
 */
export function normalizeHtu(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return undefined;
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  return url.href;
}

/**
 * `ath`: base64url of the SHA-256 of the access token's ASCII.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function computeAth(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

function describeJoseRefusal(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return 'The DPoP proof is too old (iat)';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iat') return 'The DPoP proof iat is not acceptable';
    if (err.claim === 'typ') return 'The DPoP proof must be typed dpop+jwt';
    return `The DPoP proof lacks a valid ${err.claim.replace(/[^a-z_]/gi, '').slice(0, 20)} claim`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return 'The DPoP proof signature is invalid';
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return 'The DPoP proof algorithm is not accepted';
  return 'The DPoP proof is malformed';
}

/**
 * Checks a DPoP proof presented with a DPoP-bound access token (RFC 9449 §4.3 checks 1–12 and
 * §7.1's key binding), cheapest checks first; the `jti` is recorded only for a proof that passed
 * everything else, so that a refused proof costs the store nothing.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-9
 */
export async function verifyDpopProof(
  request: DpopProofRequest,
  policy: DpopProofPolicy,
): Promise<DpopProofOutcome> {
  const proof = request.proof?.trim() ?? '';
  // §4.3 check 1: exactly one DPoP header. Repeats arrive joined with a comma, which a JWT lacks.
  if (proof === '') return refuse('The request has no DPoP proof');
  if (proof.includes(','))
    return refuse('The request has more than one DPoP proof', 'DPoP header repeated');
  if (proof.length > MAX_DPOP_PROOF_LENGTH) return refuse('The DPoP proof is too long');

  // §4.3 checks 2–6, cheap ones first: typ, an allowed asymmetric alg, a public jwk.
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    return refuse('The DPoP proof is not a JWT');
  }
  const algorithms = [...policy.algorithms];
  // Media types compare case-insensitively, with or without `application/` (RFC 7515 §4.1.9).
  if (
    typeof header.typ !== 'string' ||
    header.typ.toLowerCase().replace(/^application\//, '') !== 'dpop+jwt'
  )
    return refuse(
      'The DPoP proof must be typed dpop+jwt',
      `typ ${String(header.typ).slice(0, 30)}`,
    );
  // MUST: the allowlist holds asymmetric algorithms only: `none` and MACs never get further.
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg))
    return refuse(
      'The DPoP proof algorithm is not accepted',
      `alg ${String(header.alg).slice(0, 20)}`,
    );
  const jwk = header.jwk as JWK | undefined;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    return refuse('The DPoP proof has no jwk header');
  // MUST: §4.3 check 7: the jwk is a public key. A private key in a header is a leaked key, and
  // a symmetric one would make the proof a MAC anyone holding the header could forge.
  if (PRIVATE_JWK_MEMBERS.some((member) => Object.hasOwn(jwk, member)))
    return refuse('The DPoP proof jwk must be a public key', 'private or symmetric jwk');

  const maxAge = policy.maxAgeSeconds ?? DPOP_PROOF_MAX_AGE_SECONDS;
  const tolerance = policy.clockToleranceSeconds ?? DPOP_CLOCK_TOLERANCE_SECONDS;
  const nowSeconds = policy.now?.() ?? Math.floor(Date.now() / 1000);
  let payload: JWTPayload;
  try {
    // §4.3 checks 2, 4, 5, 6, 11: signature by the embedded key, typ, alg, iat within the window
    // (not older than maxAge, not in the future beyond the tolerance).
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      algorithms,
      typ: 'dpop+jwt',
      maxTokenAge: maxAge,
      clockTolerance: tolerance,
      currentDate: new Date(nowSeconds * 1000),
      requiredClaims: ['iat', 'jti', 'htm', 'htu'],
    }));
  } catch (err) {
    if (err instanceof errors.JOSEError)
      return refuse(describeJoseRefusal(err), `${err.code}: ${err.message.slice(0, 100)}`);
    return refuse('The DPoP proof is malformed', 'unexpected verification failure');
  }

  const { jti, htm, htu, ath, nonce } = payload as JWTPayload & Record<string, unknown>;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH)
    return refuse('The DPoP proof lacks a valid jti claim');
  // §4.3 check 8: the method, compared exactly (methods are case-sensitive, RFC 9110 §9.1).
  if (htm !== request.method)
    return refuse(
      'The DPoP proof is for another HTTP method (htm)',
      `htm ${String(htm).slice(0, 10)}`,
    );
  // §4.3 check 9: the URL, without query and fragment, after normalisation.
  const expected = normalizeHtu(request.url.href);
  if (normalizeHtu(htu) === undefined || normalizeHtu(htu) !== expected)
    return refuse('The DPoP proof is for another URL (htu)', 'htu mismatch');
  // §4.3 check 12 / §7.1: the proof is for this very access token.
  if (typeof ath !== 'string' || ath !== computeAth(request.accessToken))
    return refuse('The DPoP proof is not for this access token (ath)', 'ath mismatch');
  // §7.1: the key that signed the proof is the key the token is bound to.
  let jkt: string;
  try {
    jkt = await calculateJwkThumbprint(jwk, 'sha256');
  } catch {
    return refuse('The DPoP proof jwk is malformed');
  }
  if (jkt !== request.jkt)
    return refuse(
      'The DPoP proof is not signed by the key the access token is bound to',
      'jkt mismatch',
    );
  // §4.3 check 10 / §9: the server's nonce, when it requires one.
  if (policy.nonces && !policy.nonces.check(nonce)) {
    return {
      ok: false,
      error: 'use_dpop_nonce',
      description: 'Resource server requires nonce in DPoP proof',
      reason: nonce === undefined ? 'nonce missing' : 'nonce unknown or expired',
    };
  }
  // §11.1: a proof is good once. Recorded for as long as its iat keeps it acceptable.
  try {
    const first = await policy.replay.markUsed(`${jkt}:${jti}`, maxAge + 2 * tolerance);
    if (!first) return refuse('The DPoP proof was already used', 'jti replayed');
  } catch (err) {
    if (err instanceof ReplayStoreUnavailableError)
      return {
        ok: false,
        error: 'unavailable',
        description: 'DPoP proofs cannot be checked right now',
        reason: err.message,
      };
    throw err;
  }
  return { ok: true, jkt, header, payload };
}
