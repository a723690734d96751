/**
 * JWS algorithm names this app uses, in one place.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.1 (RS*, PS*, ES*)
 * @see https://www.rfc-editor.org/rfc/rfc8037#section-3.1 (EdDSA)
 * @see https://www.rfc-editor.org/rfc/rfc9864 (Ed25519, the fully-specified name)
 */

/**
 * Algorithms the client signs its assertions with. `EdDSA` (RFC 8037) and `Ed25519` (RFC 9864)
 * name the same signature made with an Ed25519 key; providers list one, the other or both.
 */
export const CLIENT_AUTH_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
export type ClientAuthAlg = (typeof CLIENT_AUTH_ALGS)[number];

/** The two names of the Ed25519 signature, in the order this app prefers them. */
export const ED25519_ALG_NAMES = ['EdDSA', 'Ed25519'] as const satisfies readonly ClientAuthAlg[];

/** Algorithms an ID token may be signed with here; `none` and HMAC are deliberately absent. */
export const ID_TOKEN_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** Narrows a setting or a JWK's `alg` to an algorithm this client signs with. */
export function isClientAuthAlg(value: unknown): value is ClientAuthAlg {
  return typeof value === 'string' && (CLIENT_AUTH_ALGS as readonly string[]).includes(value);
}

/**
 * Whether `alg` names an Ed25519 signature, under either name.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9864 (Ed25519 as a fully-specified algorithm)
 */
export function isEd25519Alg(alg: string): alg is (typeof ED25519_ALG_NAMES)[number] {
  return (ED25519_ALG_NAMES as readonly string[]).includes(alg);
}

/**
 * Algorithms a JWT access token may be signed with (RFC 9068 §4: the resource server MUST reject
 * `none`). Asymmetric only: the provider's published keys verify them, and an HMAC `alg` could
 * turn a public key into a "shared secret" (RFC 8725 §2.1, §3.1).
 */
export const ACCESS_TOKEN_ALGS: readonly string[] = ID_TOKEN_ALGS;
