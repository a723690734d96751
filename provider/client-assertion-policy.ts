import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

import type { RegisteredCertificate } from './client-registration';

/**
 * The bundled provider's strict validation of client assertions (private_key_jwt), through
 * oidc-provider's `assertJwtClientAuthClaimsAndHeader` hook.
 *
 * oidc-provider itself already refuses a wrong or unknown key, `alg: none` and HMAC algorithms for
 * private_key_jwt, a missing `exp` or `jti`, `iss` ≠ client_id, an expired or not-yet-valid
 * assertion and a replayed `jti`; it finds the client by the assertion's `sub`, so a `sub` that is
 * not the client_id fails too (provider/client-auth-errors.ts reports it as invalid_client). Out of
 * the box it also accepts what RFC 10070 forbids, and this hook, which runs after the signature
 * has been verified, refuses that too:
 *
 * - `aud` other than the issuer identifier alone (a string, or an array holding only it); the
 *   token endpoint URL only when the legacy setting allows it;
 * - `exp` further ahead than {@link MAX_ASSERTION_LIFETIME_SECONDS}, `iat` in the future;
 * - a `typ` naming another kind of JWT (RFC 8725 §3.11); an untyped assertion is accepted, as
 *   RFC 10070 advises;
 * - a `client_secret` sent alongside (one client authentication method per request);
 * - with a registered certificate: no, or another, certificate thumbprint in the header.
 *
 * Settings make it behave like other providers, so that the app's tools can be tried against
 * them: only the token endpoint as `aud` (PROVIDER_ASSERTION_AUDIENCE=token_endpoint), `typ`
 * required or refused (PROVIDER_ASSERTION_TYP), or none of these checks at all
 * (PROVIDER_ASSERTION_CHECKS=lenient: this hook is not installed, so only oidc-provider's own
 * checks apply, which accept the token endpoint as `aud`, an `aud` array with foreign members,
 * `exp` any time ahead, `iat` in the future and a `client_secret` alongside; a deliberately weak
 * provider, for `npm run provider-check` to catch).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 * @see https://www.rfc-editor.org/rfc/rfc10070
 */

/** Longest accepted `exp - now`: the client's own maximum lifetime. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Clock difference tolerated on `iat`, `nbf` and `exp` (also the provider's `clockTolerance`). */
export const ASSERTION_CLOCK_TOLERANCE_SECONDS = 5;

/** `typ` values a client assertion may carry (case-insensitive, RFC 7515 §4.1.9). */
const ACCEPTED_TYPES = new Set([
  'jwt',
  'client-authentication+jwt',
  'application/client-authentication+jwt',
]);

/**
 * Which `aud` a client assertion may carry. `issuer`: RFC 10070, the issuer identifier only.
 * `legacy`: also the token endpoint URL, as RFC 7523 allowed. `token_endpoint`: only the token
 * endpoint URL, the issuer refused, as IdentityServer4 and Entra ID behave (a provider that needs
 * the app's legacy setting).
 */
export const ASSERTION_AUDIENCES = ['issuer', 'legacy', 'token_endpoint'] as const;
export type AssertionAudiencePolicy = (typeof ASSERTION_AUDIENCES)[number];

/**
 * What the provider does with the header's `typ`. `optional`: RFC 10070's advice, typed or untyped
 * are both fine (another kind of JWT is refused). `required`: only `client-authentication+jwt`, as
 * Duende IdentityServer 7.2.0 and OpenIddict 7 did. `forbidden`: the explicit type is refused (only
 * `JWT` or none), as providers predating RFC 10070 may do.
 */
export const ASSERTION_TYP_POLICIES = ['optional', 'required', 'forbidden'] as const;
export type AssertionTypPolicy = (typeof ASSERTION_TYP_POLICIES)[number];

export type AssertionPolicy = {
  readonly audience: AssertionAudiencePolicy;
  /** Defaults to `optional`. */
  readonly typ?: AssertionTypPolicy | undefined;
  /** Set in certificate registration mode: the assertion must name one of these. */
  readonly certificates?: readonly RegisteredCertificate[] | undefined;
};

type Claims = Record<string, unknown>;

function reject(detail: string): never {
  throw new errors.InvalidClientAuth(detail);
}

function describe(value: unknown): string {
  return JSON.stringify(value);
}

function checkAudience(ctx: KoaContextWithOIDC, aud: unknown, policy: AssertionPolicy): void {
  const issuer = ctx.oidc.issuer;
  const tokenEndpoint = ctx.oidc.urlFor('token');
  const accepted =
    policy.audience === 'legacy'
      ? [issuer, tokenEndpoint]
      : policy.audience === 'token_endpoint'
        ? [tokenEndpoint]
        : [issuer];
  // oidc-provider's default hook, which this one replaces, checks this in its FAPI 2.0 mode: an
  // array, even of the issuer alone, is refused there.
  if (ctx.oidc.isFapi('2.0') && typeof aud !== 'string') {
    reject(`aud must be the issuer identifier as a string under FAPI 2.0; got ${describe(aud)}`);
  }
  const values = Array.isArray(aud) ? aud : [aud];
  if (values.length !== 1) {
    reject(
      `aud must be the issuer identifier as its sole value; ${describe(aud)} has ${values.length} values (RFC 10070)`,
    );
  }
  const [value] = values;
  if (typeof value === 'string' && accepted.includes(value)) return;
  if (policy.audience === 'token_endpoint') {
    reject(
      `aud must be the token endpoint URL "${tokenEndpoint}" (this provider is set to ` +
        `PROVIDER_ASSERTION_AUDIENCE=token_endpoint, like providers that predate RFC 10070); got ${describe(aud)}`,
    );
  }
  if (value === tokenEndpoint) {
    reject(
      `aud is the token endpoint URL; RFC 10070 requires the issuer identifier ` +
        `"${issuer}" (PROVIDER_ASSERTION_AUDIENCE=legacy accepts the token endpoint)`,
    );
  }
  reject(
    `aud must be the issuer identifier ` +
      `"${issuer}"${policy.audience === 'legacy' ? ` or the token endpoint "${tokenEndpoint}"` : ''}; ` +
      `got ${describe(aud)}`,
  );
}

function checkType(typ: unknown, policy: AssertionTypPolicy): void {
  const lowered = typeof typ === 'string' ? typ.toLowerCase() : undefined;
  const explicit =
    lowered === 'client-authentication+jwt' || lowered === 'application/client-authentication+jwt';
  if (policy === 'required' && !explicit) {
    reject(
      `typ must be client-authentication+jwt (this provider requires explicitly typed assertions); got ` +
        `${describe(typ)}`,
    );
  }
  if (policy === 'forbidden' && explicit) {
    reject(
      `typ ${describe(typ)} is not accepted by this provider (only JWT or no typ; PROVIDER_ASSERTION_TYP=forbidden)`,
    );
  }
  if (typ !== undefined && (lowered === undefined || !ACCEPTED_TYPES.has(lowered))) {
    reject(
      `typ ${describe(typ)} names another kind of JWT; a client assertion is typed client-authentication+jwt (RFC ` +
        `10070) or untyped`,
    );
  }
}

function checkTimes(claims: Claims): void {
  const now = Math.floor(Date.now() / 1000);
  const { iat, exp } = claims;
  if (iat !== undefined) {
    if (typeof iat !== 'number') reject('iat must be a number');
    if (iat > now + ASSERTION_CLOCK_TOLERANCE_SECONDS) {
      reject(
        `iat is ${iat - now} s in the future (tolerance ` +
          `${ASSERTION_CLOCK_TOLERANCE_SECONDS} s); check the client's clock`,
      );
    }
  }
  if (
    typeof exp === 'number' &&
    exp - now > MAX_ASSERTION_LIFETIME_SECONDS + ASSERTION_CLOCK_TOLERANCE_SECONDS
  ) {
    reject(
      `exp is ${exp - now} s ahead; a client assertion may live at most ${MAX_ASSERTION_LIFETIME_SECONDS} s`,
    );
  }
}

function checkCertificate(
  header: Claims,
  kid: unknown,
  certificates: readonly RegisteredCertificate[],
): void {
  const s256 = header['x5t#S256'];
  const sha1 = header.x5t;
  if (typeof s256 !== 'string' && typeof sha1 !== 'string') {
    reject(
      'the client is registered with a certificate: the header must name it by x5t#S256 (or x5t)',
    );
  }
  const named = certificates.find((c) =>
    typeof s256 === 'string' ? c.x5tS256 === s256 : c.x5t === sha1,
  );
  if (!named)
    reject(
      `the certificate thumbprint ${describe(s256 ?? sha1)} is not registered for this client`,
    );
  if (typeof sha1 === 'string' && named.x5t !== sha1)
    reject('x5t and x5t#S256 name different certificates');
  // The hook cannot see which registered key verified the signature: with several certificates
  // only a kid ties the signature to the certificate the header names.
  if (kid === undefined && certificates.length > 1)
    reject(
      'several certificates are registered for this client: the header must name the key by kid too',
    );
  if (kid !== undefined && kid !== named.kid)
    reject(
      `the assertion is signed with key ${describe(kid)}, not with the key of the certificate it names`,
    );
  const now = new Date();
  if (now > new Date(named.certificate.validTo) || now < new Date(named.certificate.validFrom)) {
    reject(
      `the registered certificate ${named.x5tS256} is not valid now ` +
        `(${named.certificate.validFrom} – ${named.certificate.validTo})`,
    );
  }
}

/**
 * The `assertJwtClientAuthClaimsAndHeader` hook enforcing {@link AssertionPolicy}.
 *
 * @see https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#assertjwtclientauthclaimsandheader
 */
export function strictClientAssertionCheck(
  policy: AssertionPolicy,
): NonNullable<Configuration['assertJwtClientAuthClaimsAndHeader']> {
  return (ctx, claims, header) => {
    const body = ctx.oidc.body as Record<string, unknown> | undefined;
    if (body?.client_secret !== undefined) {
      reject(
        'a client_secret must not be sent with a client assertion: use one client authentication method per request',
      );
    }
    checkType(header.typ, policy.typ ?? 'optional');
    checkAudience(ctx, claims.aud, policy);
    checkTimes(claims);
    if (policy.certificates) checkCertificate(header, header.kid, policy.certificates);
  };
}
