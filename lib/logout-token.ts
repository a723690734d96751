import {
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';

import { ID_TOKEN_ALGS } from './algorithms';
import { getClockSkew } from './clock-skew';
import { findAudienceProblem } from './id-token';
import { describeError } from './log';
import { JWKS_UNAVAILABLE, type ProviderJwks } from './provider-jwks';

/**
 * Validation of the Logout Token that an OpenID Provider POSTs to this app's back-channel logout
 * URI, as OpenID Connect Back-Channel Logout 1.0 §2.6 says (the final text, errata set 1).
 *
 * The checks, in order; the first that fails refuses the token with a stable code
 * ({@link LOGOUT_TOKEN_ERRORS}), and the caller answers 400 (§2.6 last paragraph, §2.8):
 *
 * 1. A compact JWS of bounded size. A JWE is refused: this client registers no ID token
 *    encryption, so it has no key to decrypt one, and §2.6 step 1 says to reject an unencrypted
 *    token when encryption was negotiated, never the reverse.
 * 2. `alg` is one the client expects for ID tokens (§2.6 step 3: validated "in the same way it is
 *    validated for ID Tokens"), never `none` (§2.6 step 3) and never HMAC (the provider's
 *    published keys are public).
 * 3. `typ`, when present, is `logout+jwt` or the generic `JWT` (see {@link checkTyp} for why).
 * 4. The signature verifies with the provider's keys, as an ID token's does (§2.6 step 2; OIDC
 *    Core §3.1.3.7 rule 6); an unknown `kid` refetches the provider's JWKS at most once per
 *    cooldown, since anyone can POST a token (lib/provider-jwks.ts).
 * 5. `iss`, `aud`, `iat` and `exp` as for ID tokens (§2.6 step 4; OIDC Core §3.1.3.7 rules 2-5,
 *    9, 10): `iss` is the issuer; `aud` lists the client_id and no audience this client does not
 *    trust, and `azp`, when present, is the client_id (lib/id-token.ts, the same rule as ID
 *    tokens here); `iat` is present and at most `maxAgeSeconds` old (OIDC Core rule 10 leaves the
 *    range to the client; §4 asks OPs for lifetimes of "at most two minutes"); `exp`, when
 *    present, has not passed; `nbf`, when present, has.
 * 6. `events` is a JSON object with the member `http://schemas.openid.net/event/backchannel-logout`
 *    whose value is a JSON object (§2.4, §2.6 step 6).
 * 7. No `nonce` (§2.4, §2.6 step 7).
 * 8. `sid` and/or `sub`, each a non-empty string when present (§2.4, §2.6 step 5).
 * 9. `jti` a non-empty string (§2.4: REQUIRED), never seen before (§2.6 step 8). This comes last,
 *    so that only a token valid in every other way consumes its `jti`: a forged or broken copy
 *    cannot burn the `jti` of a genuine token still on its way.
 *
 * `exp`: the errata text of §2.4 makes it REQUIRED, but the 2022 final text did not list it and
 * providers still in service omit it (ORY Hydra, Authentik, LemonLDAP::NG, older Keycloak).
 * Refusing those tokens would leave their users signed in here, so a missing `exp` is accepted;
 * `iat` recency bounds such a token's life just as well, and an `exp` that is present is honoured.
 *
 * Times are the provider's: this machine's clock corrected by the offset learned from the
 * provider's `Date` headers (lib/clock-skew.ts), with a tolerance of
 * {@link LOGOUT_TOKEN_CLOCK_TOLERANCE_SECONDS}, as for ID tokens at sign-in.
 *
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation (§2.6)
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#LogoutToken (§2.4)
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#CrossJWT (§4.1)
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 */

/** The `events` member that makes a JWT a Logout Token (§2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Default bound on the age of `iat`: §4 asks OPs for "at most two minutes". */
export const LOGOUT_TOKEN_MAX_AGE_SECONDS = 120;

/** Clock difference tolerated on `iat`, `exp` and `nbf`; the same as for ID tokens at sign-in. */
export const LOGOUT_TOKEN_CLOCK_TOLERANCE_SECONDS = 30;

/** Longest Logout Token accepted: real ones are about 1 KB; this bounds the work junk can cause. */
export const LOGOUT_TOKEN_MAX_LENGTH = 16 * 1024;

/** Longest `jti` remembered: it is stored for minutes, so its size must be bounded. */
const JTI_MAX_LENGTH = 512;

/**
 * Every way a Logout Token is refused, with a fixed text fit for `error_description` (it never
 * repeats anything from the token). The keys are the stable codes: add, never rename.
 */
export const LOGOUT_TOKEN_ERRORS = {
  logout_token_malformed: 'The logout token is not a compact JWS with a JSON claims set',
  logout_token_encrypted: 'The logout token is encrypted (JWE); this client expects a signed JWT',
  logout_token_unsigned: 'The logout token is unsigned (alg none)',
  logout_token_alg_not_allowed:
    'The logout token is signed with an algorithm this client does not accept',
  logout_token_typ_invalid: 'The logout token has a typ other than logout+jwt',
  logout_token_key_unknown: 'The logout token is signed with a key the provider does not publish',
  logout_token_signature_invalid: 'The logout token signature is invalid',
  logout_token_keys_unavailable:
    'The provider keys could not be fetched to verify the logout token',
  logout_token_issuer_invalid: 'The logout token was not issued by the expected issuer (iss)',
  logout_token_audience_invalid: 'The logout token is not for this client (aud, azp)',
  logout_token_iat_invalid: 'The logout token iat is missing, too old or in the future',
  logout_token_expired: 'The logout token has expired (exp)',
  logout_token_not_yet_valid: 'The logout token is not valid yet (nbf)',
  logout_token_events_invalid: 'The logout token lacks the back-channel logout event (events)',
  logout_token_nonce_present: 'The logout token carries a nonce, which a logout token must not',
  logout_token_sub_sid_invalid:
    'The logout token names neither a session (sid) nor a subject (sub)',
  logout_token_jti_invalid: 'The logout token lacks a valid jti',
  logout_token_replayed: 'The logout token was already received (jti)',
} as const satisfies Record<string, string>;

/** Stable code of a refused Logout Token. */
export type LogoutTokenErrorCode = keyof typeof LOGOUT_TOKEN_ERRORS;

/**
 * A Logout Token refused. `code` is stable, `description` a fixed text fit for the 400 answer's
 * `error_description`, `message` a log-safe detail (it never holds the token).
 *
 * `logout_token_keys_unavailable` alone is not the token's fault: the provider's JWKS could not be
 * fetched (its `jti` was not consumed, so the provider may retry the same token).
 */
export class LogoutTokenError extends Error {
  readonly code: LogoutTokenErrorCode;
  readonly description: string;

  constructor(code: LogoutTokenErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${code}: ${detail}` : code, options);
    this.name = 'LogoutTokenError';
    this.code = code;
    this.description = LOGOUT_TOKEN_ERRORS[code];
  }
}

/**
 * Remembers the `jti` of accepted Logout Tokens (§2.6 step 8). With several app instances it must
 * be shared (Redis), or a token replayed to another instance would be taken as new.
 */
export type JtiReplayStore = {
  /**
   * Records `jti` until `expiresAtSeconds` (Unix time, this machine's clock).
   *
   * @returns true when `jti` was not known (now it is), false when it was seen before and is
   *   still remembered. Must be atomic: of two concurrent calls with one `jti`, one gets true.
   */
  rememberOnce(jti: string, expiresAtSeconds: number): Promise<boolean>;
  /**
   * Forgets `jti` again: the token was accepted but could not be acted on for a reason that is
   * not its own (the session store failed), so the provider's retry must not count as a replay.
   */
  forgetOnce(jti: string): Promise<void>;
};

/** Default bound of the in-memory replay store. */
export const JTI_REPLAY_STORE_MAX_ENTRIES = 10_000;

/**
 * A {@link JtiReplayStore} in this process's memory, for one app instance: entries expire, and at
 * most `maxEntries` are kept. When it is full of live entries the oldest is forgotten: only the
 * provider can fill it (a `jti` is remembered only for a token it signed), and refusing its next
 * genuine logout would be worse than accepting a replay of a token minutes old.
 *
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation (step 8)
 */
export function createMemoryJtiReplayStore(options: { maxEntries?: number } = {}): JtiReplayStore {
  const maxEntries = options.maxEntries ?? JTI_REPLAY_STORE_MAX_ENTRIES;
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new TypeError('maxEntries must be a positive integer');
  // Insertion order is the order of arrival: the first entry is the oldest.
  const expiries = new Map<string, number>();

  function forgetExpired(nowSeconds: number): void {
    for (const [jti, expiresAt] of expiries) if (expiresAt <= nowSeconds) expiries.delete(jti);
  }

  return {
    async rememberOnce(jti, expiresAtSeconds) {
      const nowSeconds = Date.now() / 1000;
      const known = expiries.get(jti);
      if (known !== undefined && known > nowSeconds) return false;
      expiries.delete(jti);
      if (expiries.size >= maxEntries) forgetExpired(nowSeconds);
      while (expiries.size >= maxEntries) {
        const oldest = expiries.keys().next();
        if (oldest.done) break;
        expiries.delete(oldest.value);
      }
      expiries.set(jti, expiresAtSeconds);
      return true;
    },
    async forgetOnce(jti) {
      expiries.delete(jti);
    },
  };
}

export type LogoutTokenValidationOptions = {
  /** The provider's JWKS cache (lib/provider-jwks.ts). */
  readonly jwks: ProviderJwks;
  /** The provider's issuer identifier: `iss` must equal it. */
  readonly issuer: string;
  /** This client's client_id: `aud` must list it. */
  readonly clientId: string;
  /** The algorithm(s) this client expects ID tokens to be signed with (asymmetric ones only). */
  readonly algorithms: readonly string[];
  /** Where accepted `jti`s are remembered. */
  readonly replay: Pick<JtiReplayStore, 'rememberOnce'>;
  /** How old `iat` may be, seconds ({@link LOGOUT_TOKEN_MAX_AGE_SECONDS}), plus the tolerance. */
  readonly maxAgeSeconds?: number;
};

/** What an accepted Logout Token asks to end (§2.7): the session `sid`, or every one of `sub`. */
export type ValidatedLogoutToken = { sid?: string; sub?: string; jti: string };

const ASYMMETRIC_ALGS: readonly string[] = ID_TOKEN_ALGS;

/**
 * MUST (§2.4, §4.1): a `typ` naming another kind of JWT (an access token's `at+jwt`, a client
 * assertion's `client-authentication+jwt`, a SET's `secevent+jwt`) means its issuer says it is
 * not a Logout Token (RFC 8725 §3.11), whatever its claims. §2.4 only RECOMMENDS that providers
 * type Logout Tokens `logout+jwt`, so an absent `typ` is accepted, and so is `JWT`: RFC 7519 §5.1
 * defines it as the generic "this is a JWT", which says nothing about purpose, and providers used
 * it for Logout Tokens before they adopted `logout+jwt` (Keycloak, Authentik); refusing it would
 * refuse conforming providers. For such tokens the defence against cross-JWT confusion is the
 * `events` member and the absence of `nonce` (§4.1), checked below. Media types compare
 * case-insensitively, with or without `application/` (RFC 7515 §4.1.9).
 */
function checkTyp(typ: unknown): void {
  if (typ === undefined) return;
  const type = typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : '';
  if (type !== 'logout+jwt' && type !== 'jwt') {
    throw new LogoutTokenError(
      'logout_token_typ_invalid',
      `typ ${JSON.stringify(typ)?.slice(0, 40)} refused`,
    );
  }
}

/** Steps 1 to 3: the token's shape and header, before any key is looked up. */
function checkHeader(logoutToken: unknown, algorithms: readonly string[]): void {
  if (typeof logoutToken !== 'string' || logoutToken.length === 0)
    throw new LogoutTokenError('logout_token_malformed', 'no logout token');
  if (logoutToken.length > LOGOUT_TOKEN_MAX_LENGTH)
    throw new LogoutTokenError('logout_token_malformed', `${logoutToken.length} characters`);
  const segments = logoutToken.split('.').length;
  if (segments === 5) throw new LogoutTokenError('logout_token_encrypted', 'five segments (JWE)');
  if (segments !== 3)
    throw new LogoutTokenError('logout_token_malformed', `${segments} segments, not 3`);
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(logoutToken);
  } catch (err) {
    throw new LogoutTokenError('logout_token_malformed', 'unreadable header', { cause: err });
  }
  if (header.enc !== undefined)
    throw new LogoutTokenError('logout_token_encrypted', 'enc in the header (JWE)');
  // MUST (§2.6 step 3): "an alg with the value none MUST NOT be used for Logout Tokens".
  if (typeof header.alg === 'string' && header.alg.toLowerCase() === 'none')
    throw new LogoutTokenError('logout_token_unsigned', 'alg none');
  // MUST: the allowlist is checked before any key is looked up (RFC 8725 §3.1).
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
    throw new LogoutTokenError(
      'logout_token_alg_not_allowed',
      `alg ${String(header.alg).slice(0, 20)} refused (expected ${algorithms.join(', ')})`,
    );
  }
  checkTyp(header.typ);
}

/** The code of a failure of jose's verification (signature, then registered claims). */
function classifyVerificationFailure(err: unknown): LogoutTokenError {
  const detail = describeError(err);
  if ((err as { code?: unknown }).code === JWKS_UNAVAILABLE)
    return new LogoutTokenError('logout_token_keys_unavailable', detail, { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed || err instanceof errors.JWTExpired) {
    const byClaim: Record<string, LogoutTokenErrorCode> = {
      iss: 'logout_token_issuer_invalid',
      aud: 'logout_token_audience_invalid',
      iat: 'logout_token_iat_invalid',
      exp: 'logout_token_expired',
      nbf: 'logout_token_not_yet_valid',
      jti: 'logout_token_jti_invalid',
    };
    const code = byClaim[err.claim] ?? 'logout_token_malformed';
    return new LogoutTokenError(code, detail, { cause: err });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new LogoutTokenError('logout_token_signature_invalid', detail, { cause: err });
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
    return new LogoutTokenError('logout_token_key_unknown', detail, { cause: err });
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return new LogoutTokenError('logout_token_alg_not_allowed', detail, { cause: err });
  if (err instanceof errors.JOSEError)
    return new LogoutTokenError('logout_token_malformed', detail, { cause: err });
  throw err;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Present, it must be a non-empty string; absent is undefined. */
function readOptionalString(payload: JWTPayload, claim: 'sid' | 'sub'): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0)
    throw new LogoutTokenError('logout_token_sub_sid_invalid', `${claim} is not a string`);
  return value;
}

/** Steps 6 to 8 and the shape of `jti`: what makes the JWT a Logout Token. */
function readLogoutClaims(payload: JWTPayload): ValidatedLogoutToken {
  const { events } = payload;
  if (!isJsonObject(events))
    throw new LogoutTokenError('logout_token_events_invalid', 'no events object');
  if (!Object.hasOwn(events, BACKCHANNEL_LOGOUT_EVENT))
    throw new LogoutTokenError('logout_token_events_invalid', 'events lacks the logout member');
  // §2.4: "The corresponding member value MUST be a JSON object".
  if (!isJsonObject(events[BACKCHANNEL_LOGOUT_EVENT]))
    throw new LogoutTokenError('logout_token_events_invalid', 'the event value is not an object');
  // MUST (§2.4): a nonce would let a Logout Token pass for an ID token in a forged
  // authentication response; its presence in any form is refused.
  if (Object.hasOwn(payload, 'nonce'))
    throw new LogoutTokenError('logout_token_nonce_present', 'nonce present');
  const sid = readOptionalString(payload, 'sid');
  const sub = readOptionalString(payload, 'sub');
  if (sid === undefined && sub === undefined)
    throw new LogoutTokenError('logout_token_sub_sid_invalid', 'neither sid nor sub');
  const { jti } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > JTI_MAX_LENGTH)
    throw new LogoutTokenError('logout_token_jti_invalid', 'jti is not a bounded string');
  return { ...(sid === undefined ? {} : { sid }), ...(sub === undefined ? {} : { sub }), jti };
}

/**
 * Validates a Logout Token received at the back-channel logout URI and returns what it asks to
 * end. Throws {@link LogoutTokenError} for every refused token (answer 400, end nothing); errors
 * of the replay store (its backend unreachable) propagate unchanged.
 *
 * @see https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation
 */
export async function validateLogoutToken(
  logoutToken: string,
  options: LogoutTokenValidationOptions,
): Promise<ValidatedLogoutToken> {
  const maxAgeSeconds = options.maxAgeSeconds ?? LOGOUT_TOKEN_MAX_AGE_SECONDS;
  if (!Number.isFinite(maxAgeSeconds) || maxAgeSeconds <= 0)
    throw new TypeError('maxAgeSeconds must be a positive number');
  // MUST: never `none`, never HMAC, whatever the caller passes.
  const algorithms = options.algorithms.filter((alg) => ASYMMETRIC_ALGS.includes(alg));
  if (algorithms.length === 0)
    throw new TypeError(`no asymmetric JWS algorithm among ${options.algorithms.join(', ')}`);

  checkHeader(logoutToken, algorithms);

  const skewSeconds = getClockSkew();
  let payload: JWTPayload;
  try {
    ({ payload } = await options.jwks.verify(
      logoutToken,
      {
        algorithms,
        issuer: options.issuer,
        audience: options.clientId,
        requiredClaims: ['iss', 'aud', 'iat', 'jti'],
        maxTokenAge: maxAgeSeconds,
        clockTolerance: LOGOUT_TOKEN_CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(Date.now() + skewSeconds * 1000),
      },
      // MUST: anyone can POST a logout token: an unknown kid refetches the provider's keys at
      // most once per cooldown, so junk kids cannot turn this endpoint into a JWKS flood.
      false,
    ));
  } catch (err) {
    throw classifyVerificationFailure(err);
  }

  // Same audience rule as ID tokens (§2.6 step 4): no untrusted extra audience, azp = client_id.
  const audienceProblem = findAudienceProblem(payload, options.clientId);
  if (audienceProblem) throw new LogoutTokenError('logout_token_audience_invalid', audienceProblem);

  const claims = readLogoutClaims(payload);

  // The token can be accepted until its iat is too old (exp, if earlier, ends it sooner); keep the
  // jti that long, in this machine's time, and a tolerance longer: with several instances on one
  // store, one whose clock runs behind this one's (by less than lib/clock-skew.ts corrects, or by
  // what its estimate of the provider's offset got wrong) accepts the token for that much longer.
  const iat = payload.iat as number;
  const expiresAtSeconds = Math.ceil(
    iat - skewSeconds + maxAgeSeconds + 2 * LOGOUT_TOKEN_CLOCK_TOLERANCE_SECONDS,
  );
  // MUST (§2.6 step 8): last, so that only a token valid in every other way consumes its jti.
  if (!(await options.replay.rememberOnce(claims.jti, expiresAtSeconds)))
    throw new LogoutTokenError('logout_token_replayed', 'jti already received');
  return claims;
}
