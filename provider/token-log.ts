import { decodeJwt, decodeProtectedHeader } from 'jose';
import type Provider from 'oidc-provider';

/**
 * One log line per token-endpoint request, for integrators (what did my client send, and how did
 * it end) and for tests (they count grants from it):
 *
 *   [op] token grant_type=refresh_token auth=private_key_jwt kid=… aud=… resource=… status=200 outcome=ok
 *
 * Never a token, a code or an assertion: only the grant type, how the client authenticated, the
 * assertion's `kid` and `aud` (decoded, not verified: this is a log), the `resource` asked for,
 * and the outcome (`ok`, or the OAuth `error`).
 */

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

type Params = Record<string, unknown> | undefined;

function describeAuth(params: Params, authorization: string | undefined): string {
  if (params?.client_assertion_type === CLIENT_ASSERTION_TYPE) return 'private_key_jwt';
  if (authorization?.toLowerCase().startsWith('basic ')) return 'client_secret_basic';
  if (typeof params?.client_secret === 'string') return 'client_secret_post';
  return 'none';
}

function describeAssertion(params: Params): { kid: string; aud: string } {
  const assertion = params?.client_assertion;
  if (typeof assertion !== 'string') return { kid: '-', aud: '-' };
  let kid = '-';
  let aud = '-';
  try {
    const header = decodeProtectedHeader(assertion);
    if (typeof header.kid === 'string') kid = header.kid.slice(0, 64);
  } catch {
    kid = '(not a JWT)';
  }
  try {
    const claims = decodeJwt(assertion);
    if (typeof claims.aud === 'string') aud = claims.aud.slice(0, 200);
    else if (Array.isArray(claims.aud)) aud = claims.aud.map(String).join(',').slice(0, 200);
  } catch {
    aud = '(not a JWT)';
  }
  return { kid, aud };
}

function safeToken(value: unknown, max = 100): string {
  return typeof value === 'string' && /^[\x21-\x7e]+$/.test(value) ? value.slice(0, max) : '-';
}

/** Logs every request to the token endpoint once it has been answered. */
export function logTokenRequests(provider: Provider): void {
  const tokenPath = new URL(provider.urlFor('token')).pathname;
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== tokenPath) return;
    const oidc = (ctx as { oidc?: { params?: Params } }).oidc;
    const params = oidc?.params;
    const body = ctx.body as { error?: unknown } | undefined;
    const { kid, aud } = describeAssertion(params);
    const error = typeof body?.error === 'string' ? body.error : undefined;
    const fields = [
      `grant_type=${safeToken(params?.grant_type)}`,
      `auth=${describeAuth(params, ctx.get('authorization') || undefined)}`,
      `kid=${kid}`,
      `aud=${aud}`,
      `resource=${safeToken(params?.resource, 200)}`,
      `status=${ctx.status}`,
      `outcome=${ctx.status === 200 ? 'ok' : safeToken(error ?? 'error')}`,
    ];
    console.log(`[op] token ${fields.join(' ')}`);
  });
}
