import { decodeJwt, decodeProtectedHeader } from 'jose';

/** A JWT's header and payload, decoded without verification, for display. */
export type JwtView = {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
};

/**
 * Decodes a compact JWS for display (no verification: only for tokens this app sent or has
 * already verified), or undefined when it is not one.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1 (compact serialization)
 */
export function viewJwt(jwt: string | undefined): JwtView | undefined {
  if (!jwt) return undefined;
  try {
    return {
      header: decodeProtectedHeader(jwt) as Record<string, unknown>,
      payload: decodeJwt(jwt) as Record<string, unknown>,
    };
  } catch {
    return undefined;
  }
}
