import type { ParView } from './authorization-request';
import { viewJwt, type JwtView } from './jwt-view';
import type { SignInResult } from './sign-in';

/**
 * What a sign-in did beyond the plain code flow, for /profile: the pushed authorization request
 * (RFC 9126) and the DPoP binding (RFC 9449), decoded. Nothing here is a credential: the
 * assertions and proofs were single-use and are shown decoded, the tokens not at all.
 */

export type DpopView = {
  /** The session key's RFC 7638 thumbprint. */
  readonly jkt: string;
  /** `token_type` of the token response (`dpop`). */
  readonly token_type: string;
  /** The access token's `cnf`, when the access token is a JWT (opaque ones cannot be read). */
  readonly cnf?: Record<string, unknown> | undefined;
  readonly access_token_format: 'jwt' | 'opaque';
  /** The proofs sent during the callback (token request, retries, UserInfo), decoded. */
  readonly proofs: readonly JwtView[];
};

export type SignInFlowView = {
  readonly par?: ParView | undefined;
  readonly dpop?: DpopView | undefined;
};

/** The flow view of a completed sign-in, or undefined for a plain one. */
export function describeSignInFlow(
  result: Pick<SignInResult, 'par' | 'dpop'>,
): SignInFlowView | undefined {
  const { par, dpop } = result;
  if (!par && !dpop) return undefined;
  return {
    par,
    dpop: dpop && {
      jkt: dpop.jkt,
      token_type: dpop.binding.token_type,
      cnf: dpop.binding.cnf,
      access_token_format: dpop.binding.format,
      proofs: dpop.proofs.flatMap((proof) => viewJwt(proof) ?? []),
    },
  };
}
