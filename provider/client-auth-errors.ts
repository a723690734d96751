import { decodeJwt, decodeProtectedHeader } from 'jose';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';

/**
 * Says why client authentication failed, in the `error_description` of the 401 response.
 *
 * oidc-provider answers every client-authentication failure with the same
 * `invalid_client / client authentication failed` and keeps the reason in `error_detail`, which it
 * never sends: a production provider should not tell an attacker which check failed. This is a
 * development provider whose purpose is to show integrators what is wrong with their assertion,
 * so it appends the reason. It does so from oidc-provider's own error events, which fire after the
 * error body is set and before it is sent.
 *
 * One failure oidc-provider reports as a malformed request is reported here as what it is for a
 * client: an assertion whose `sub` is not the `client_id` it is sent with (oidc-provider finds
 * the client by the assertion's `sub`) is a failed client authentication, `401 invalid_client`
 * (RFC 6749 §5.2), like every other bad assertion.
 */

type ErrorBody = { error?: unknown; error_description?: unknown };

function assertionSubject(ctx: KoaContextWithOIDC): string | undefined {
  const assertion = ctx.oidc.params?.client_assertion;
  if (typeof assertion !== 'string') return undefined;
  try {
    const { sub } = decodeJwt(assertion);
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

function assertionHeader(ctx: KoaContextWithOIDC): { alg?: unknown; kid?: unknown } {
  const assertion = ctx.oidc.params?.client_assertion;
  try {
    return typeof assertion === 'string' ? decodeProtectedHeader(assertion) : {};
  } catch {
    return {};
  }
}

/** oidc-provider's terse reasons, said so that an integrator knows what to change. */
function elaborate(ctx: KoaContextWithOIDC, detail: string): string {
  const { alg, kid } = assertionHeader(ctx);
  if (detail === 'alg mismatch')
    return `alg ${JSON.stringify(alg)} is not accepted for this client's private_key_jwt (alg mismatch)`;
  if (detail.startsWith('no applicable key found')) {
    const cached = ctx.oidc.client?.jwksUri
      ? '; keys from a jwks_uri are cached for at least 60 s, so a new key must be published that long before it signs'
      : '';
    return `no registered key matches kid ${JSON.stringify(kid)} and alg ${JSON.stringify(alg)} (${detail})${cached}`;
  }
  return detail;
}

/** `client authentication failed: <reason>` for a failed client authentication with a known reason. */
export function describeClientAuthFailure(
  ctx: KoaContextWithOIDC,
  err: unknown,
): string | undefined {
  if (err instanceof errors.InvalidClientAuth) {
    return err.error_detail
      ? `${err.error_description ?? 'client authentication failed'}: ${elaborate(ctx, err.error_detail)}`
      : undefined;
  }
  const sub = assertionSubject(ctx);
  if (
    err instanceof errors.InvalidRequest &&
    err.error_description === 'client_id mismatch' &&
    sub !== undefined
  ) {
    return (
      `client authentication failed: the client_assertion's sub "${sub}" is not the ` +
      `client_id "${String(ctx.oidc.params?.client_id)}" (RFC 7523 §3: iss and sub ` +
      `are both the client_id)`
    );
  }
  return undefined;
}

/** Makes `provider` explain client-authentication failures in `error_description`. */
export function exposeClientAuthFailures(provider: Provider): void {
  const explain = (ctx: KoaContextWithOIDC, err: unknown) => {
    const description = describeClientAuthFailure(ctx, err);
    const body = ctx.body as ErrorBody | undefined;
    if (description && body && typeof body === 'object') {
      ctx.status = 401;
      ctx.body = { ...body, error: 'invalid_client', error_description: description };
    }
  };
  // The error events of every endpoint that authenticates clients.
  provider.on('grant.error', explain);
  provider.on('introspection.error', explain);
  provider.on('revocation.error', explain);
  provider.on('pushed_authorization_request.error', explain);
  provider.on('backchannel_authentication.error', explain);
  provider.on('device_authorization.error', explain);
}
