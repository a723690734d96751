import type { JwtView } from './jwt-view';
import type { FlowExpectations, SignInFlowRecord } from './flow-record';
import { formatInstant } from './time-display';

/**
 * The checks the flow inspector shows beside each step, computed from the record's facts: the
 * RFC 7523 / RFC 10070 rules the client assertion follows, the RFC 9207 and `state` checks of the
 * authorization response, and every ID token check of OpenID Connect Core §3.1.3.7 (with
 * §3.1.3.8's `at_hash`). Each says what was compared and how it came out. One is not recomputed:
 * the ID token's signature, which the record exists only because it was verified (a sign-in whose
 * ID token fails verification leaves no record).
 */

export type CheckOutcome = 'pass' | 'fail' | 'warn' | 'n/a';

export type Check = {
  readonly rule: string;
  readonly ref: string;
  readonly outcome: CheckOutcome;
  readonly detail: string;
};

const check = (rule: string, ref: string, outcome: CheckOutcome, detail: string): Check => ({
  rule,
  ref,
  outcome,
  detail,
});

const show = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** The authorization response: `state` and RFC 9207 `iss`. */
export function listAuthorizationResponseChecks(record: SignInFlowRecord): Check[] {
  const { response, expect } = record;
  const issCheck =
    response.iss === undefined
      ? check(
          'iss is the issuer (mix-up defence)',
          'RFC 9207 §2.4',
          expect.issAdvertised ? 'fail' : 'n/a',
          expect.issAdvertised
            ? 'missing although the provider announces it'
            : 'not sent; the provider does not announce RFC 9207',
        )
      : check(
          'iss is the issuer (mix-up defence)',
          'RFC 9207 §2.4',
          response.iss === expect.issuer ? 'pass' : 'fail',
          `${response.iss} ${response.iss === expect.issuer ? '=' : '≠'} ${expect.issuer}`,
        );
  return [
    check(
      'state is this browser’s',
      'RFC 6749 §10.12, RFC 9700 §4.7',
      response.stateMatched ? 'pass' : 'fail',
      response.stateMatched
        ? 'equal to the state kept in the sealed transaction cookie'
        : 'differs from the transaction',
    ),
    issCheck,
    check(
      'one code, redeemed once, with the PKCE verifier',
      'RFC 7636 §4.5',
      response.codeLength > 0 ? 'pass' : 'fail',
      `code ${response.code} (${response.codeLength} characters, shortened here); redeemed with the code_verifier ` +
        `behind code_challenge`,
    ),
  ];
}

function numeric(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * The client assertion's rules.
 *
 * @param publishedKids the `kid`s the app publishes now (undefined: unknown).
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 * @see https://www.rfc-editor.org/rfc/rfc10070
 */
export function listAssertionChecks(
  assertion: JwtView | undefined,
  expect: FlowExpectations,
  publishedKids?: readonly string[] | undefined,
): Check[] {
  if (!assertion) return [check('client assertion', 'RFC 7523 §2.2', 'fail', 'none was recorded')];
  const { header, payload } = assertion;
  const iat = numeric(payload.iat);
  const exp = numeric(payload.exp);
  const nbf = numeric(payload.nbf);
  const lifetime = iat !== undefined && exp !== undefined ? exp - iat : undefined;
  const aud = payload.aud;
  const issuerAudience = aud === expect.issuer;
  const configuredAudience = aud === expect.assertionAudience;
  const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
  const jtiBits = jti ? Math.floor(jti.length * 6) : 0;
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  return [
    check(
      'iss = sub = client_id',
      'RFC 7523 §3 items 1, 2.B',
      payload.iss === expect.clientId && payload.sub === expect.clientId ? 'pass' : 'fail',
      `iss ${show(payload.iss)}, sub ${show(payload.sub)}, client_id ${expect.clientId}`,
    ),
    check(
      'aud is the issuer identifier, one string',
      'RFC 7523 §3 item 3, RFC 10070',
      issuerAudience ? 'pass' : configuredAudience ? 'warn' : 'fail',
      issuerAudience
        ? `${show(aud)} = the issuer`
        : configuredAudience
          ? `${show(aud)}: the legacy audience OIDC_CLIENT_ASSERTION_AUDIENCE asks for (RFC 10070 forbids it)`
          : `${show(aud)} is not what this app is configured to send`,
    ),
    check(
      'short-lived: exp − iat',
      'RFC 7523 §3 item 4',
      lifetime !== undefined && lifetime > 0 && lifetime <= 300 ? 'pass' : 'fail',
      lifetime === undefined
        ? 'exp or iat missing'
        : `${lifetime} s (OIDC_CLIENT_ASSERTION_LIFETIME ${expect.assertionLifetime} s, at most 300 s)`,
    ),
    check(
      'iat and nbf: signed just now',
      'RFC 7523 §3 items 5, 6',
      iat !== undefined && (nbf === undefined || nbf <= iat) ? 'pass' : 'fail',
      iat === undefined
        ? 'iat missing'
        : `iat ${new Date(iat * 1000).toISOString()}` +
            (nbf === undefined ? '' : `, nbf ${nbf === iat ? '= iat' : show(nbf)}`),
    ),
    check(
      'unique jti',
      'RFC 7523 §3 item 7',
      jtiBits >= 256 ? 'pass' : 'fail',
      jti
        ? `${jti.length} base64url characters (${jtiBits} random bits), new for this request; the provider ` +
            `refuses a replay`
        : 'jti missing',
    ),
    check(
      'explicitly typed',
      'RFC 10070, RFC 8725 §3.11',
      header.typ === 'client-authentication+jwt' ? 'pass' : expect.assertionTyp ? 'fail' : 'warn',
      header.typ === undefined
        ? 'no typ (OIDC_CLIENT_ASSERTION_TYP=false)'
        : `typ ${show(header.typ)}`,
    ),
    check(
      'kid names a published key',
      'RFC 7515 §4.1.4, RFC 7638',
      kid === undefined
        ? 'fail'
        : publishedKids === undefined
          ? 'n/a'
          : publishedKids.includes(kid)
            ? 'pass'
            : 'warn',
      kid === undefined
        ? 'no kid'
        : publishedKids === undefined
          ? `kid ${kid}`
          : publishedKids.includes(kid)
            ? `kid ${kid} is in /.well-known/jwks.json`
            : `kid ${kid} is no longer published (the key was rotated since)`,
    ),
    check(
      'alg the provider accepts, asymmetric',
      'RFC 7518 §3.1, RFC 8414 §2',
      typeof header.alg === 'string' &&
        header.alg !== 'none' &&
        !header.alg.startsWith('HS') &&
        (expect.assertionAlgs === undefined || expect.assertionAlgs.includes(header.alg))
        ? 'pass'
        : 'fail',
      `alg ${show(header.alg)}` +
        (expect.assertionAlgs ? ` (the provider lists ${expect.assertionAlgs.join(', ')})` : ''),
    ),
  ];
}

/**
 * Every ID token check of OpenID Connect Core §3.1.3.7, and `at_hash` (§3.1.3.8).
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 */
export function listIdTokenChecks(record: SignInFlowRecord): Check[] {
  const token = record.tokenResponse.idToken;
  if (token?.kind !== 'jwt')
    return [check('ID token', 'OIDC Core §3.1.3.3', 'fail', 'no ID token was recorded')];
  const { header, payload } = token.jwt;
  const { expect, idToken } = record;
  const ref = (item: number) => `OIDC Core §3.1.3.7 item ${item}`;
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  const exp = numeric(payload.exp);
  const iat = numeric(payload.iat);
  const at = idToken.validatedAt;
  const tls = record.token.endpoint?.startsWith('https:');
  return [
    check(
      'not encrypted (or decrypted first)',
      ref(1),
      header.enc === undefined ? 'n/a' : 'pass',
      header.enc === undefined ? 'a JWS, not a JWE' : `decrypted (${show(header.enc)})`,
    ),
    check(
      'iss is exactly the issuer',
      ref(2),
      payload.iss === expect.issuer ? 'pass' : 'fail',
      `${show(payload.iss)} ${payload.iss === expect.issuer ? '=' : '≠'} ${expect.issuer}`,
    ),
    check(
      'aud contains the client_id, no untrusted audience',
      ref(3),
      audiences.includes(expect.clientId) &&
        audiences.every((a) => a === expect.clientId || a === payload.azp)
        ? 'pass'
        : 'fail',
      `aud ${show(payload.aud)}`,
    ),
    check(
      'several audiences: azp present',
      ref(4),
      audiences.length <= 1 ? 'n/a' : payload.azp !== undefined ? 'pass' : 'fail',
      audiences.length <= 1 ? 'one audience' : `azp ${show(payload.azp)}`,
    ),
    check(
      'azp, if present, is the client_id',
      ref(5),
      payload.azp === undefined ? 'n/a' : payload.azp === expect.clientId ? 'pass' : 'fail',
      payload.azp === undefined ? 'no azp' : `azp ${show(payload.azp)}`,
    ),
    check(
      'signature verified with the provider’s key',
      ref(6),
      'pass',
      (tls
        ? 'received over TLS from the token endpoint, and'
        : 'received from the token endpoint (plain http on loopback), and') +
        ` verified against the provider’s JWKS (kid ${show(header.kid)})`,
    ),
    check(
      'alg is the one registered (id_token_signed_response_alg)',
      ref(7),
      header.alg === expect.idTokenAlg ? 'pass' : 'fail',
      `${show(header.alg)} ${header.alg === expect.idTokenAlg ? '=' : '≠'} ${expect.idTokenAlg}`,
    ),
    check(
      'MAC algorithm keyed with the client secret',
      ref(8),
      'n/a',
      'asymmetric signature; this client has no secret',
    ),
    check(
      'exp after the current time',
      ref(9),
      exp !== undefined && exp > at ? 'pass' : 'fail',
      exp === undefined ? 'exp missing' : `expires ${exp - at} s after validation`,
    ),
    check(
      'iat within an acceptable range',
      ref(10),
      iat !== undefined && iat <= at + 30 ? 'pass' : 'fail',
      iat === undefined ? 'iat missing' : `issued ${at - iat} s before validation (30 s tolerance)`,
    ),
    check(
      'nonce is the one this sign-in sent',
      ref(11),
      idToken.nonceMatched ? 'pass' : 'fail',
      idToken.nonceMatched
        ? 'equal to the nonce in the sealed transaction cookie'
        : 'differs from the transaction',
    ),
    check(
      'acr, if requested, is appropriate',
      ref(12),
      'n/a',
      payload.acr === undefined
        ? 'not requested'
        : `not requested; the provider sent ${show(payload.acr)}`,
    ),
    check(
      'auth_time, if max_age was requested, is recent enough',
      ref(13),
      'n/a',
      payload.auth_time === undefined
        ? 'max_age not requested'
        : `max_age not requested; authenticated at ${formatInstant(Number(payload.auth_time) * 1000)}`,
    ),
    check(
      'at_hash matches the access token',
      'OIDC Core §3.1.3.8',
      idToken.atHashMatched === undefined ? 'n/a' : idToken.atHashMatched ? 'pass' : 'fail',
      idToken.atHashMatched === undefined
        ? 'no at_hash (optional in the code flow)'
        : 'left half of the access token’s hash',
    ),
  ];
}

/** UserInfo's one check: the same subject as the ID token. */
export function listUserInfoChecks(record: SignInFlowRecord): Check[] {
  if (!record.userinfo)
    return [check('UserInfo', 'OIDC Core §5.3', 'n/a', 'the provider has no UserInfo endpoint')];
  return [
    check(
      'sub is the ID token’s sub',
      'OIDC Core §5.3.2',
      record.userinfo.subMatched ? 'pass' : 'fail',
      record.userinfo.subMatched ? `sub ${record.sub}` : 'differs',
    ),
  ];
}
