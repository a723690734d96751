/**
 * Why a provider refuses this app's client assertion, in the order the causes are usually met.
 * One list for every place that reports a refusal: the error page, `npm run client-credentials`,
 * `npm run doctor` and the log, so that they never disagree.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3 (what the provider checks)
 * @see https://www.rfc-editor.org/rfc/rfc10070 (audience and explicit typing)
 */

/** Values of this set-up, filled into the hints when known. */
export type HintValues = {
  readonly clientId?: string | undefined;
  /** The signing key's `kid`. */
  readonly kid?: string | undefined;
  /** `APP_URL/.well-known/jwks.json`. */
  readonly jwksUrl?: string | undefined;
  /** The `aud` the assertion carries now. */
  readonly audience?: string | undefined;
  readonly lifetimeSeconds?: number | undefined;
};

/**
 * The causes of a refused client assertion, most frequent first, each with the setting that fixes
 * it.
 */
export function listClientAuthHints(values: HintValues = {}): string[] {
  const kid = values.kid ? ` (kid ${values.kid})` : '';
  const jwks = values.jwksUrl ?? 'APP_URL/.well-known/jwks.json';
  const clientId = values.clientId ? ` (${values.clientId})` : '';
  const audience = values.audience ? `; this assertion says aud = ${values.audience}` : '';
  const lifetime = values.lifetimeSeconds ? ` (${values.lifetimeSeconds} s)` : '';
  return [
    `The provider does not have this app's public key${kid}: register the JWKS that ` +
      `\`npm run keys -- show\` prints, or the jwks_uri ${jwks}, which must then be reachable from ` +
      'the provider. After a key change the provider may still cache the old JWKS.',
    `OIDC_CLIENT_ID${clientId} is not the client registered there, or that client is not registered for ` +
      `private_key_jwt.`,
    `The audience: RFC 10070 providers want the issuer identifier (the default); older ones want their token ` +
      `endpoint (OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint)${audience}.`,
    'The explicit type: a provider that refuses typ client-authentication+jwt needs OIDC_CLIENT_ASSERTION_TYP=false.',
    'The algorithm: the provider accepts only some (token_endpoint_auth_signing_alg_values_supported); ' +
      'OIDC_CLIENT_AUTH_ALG chooses another one the key can sign.',
    `The clocks differ by more than the assertion's lifetime${lifetime}.`,
    '`npm run doctor` tries these one by one against the provider and names the settings that work.',
  ];
}
