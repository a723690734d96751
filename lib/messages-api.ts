import { challengeErrorResponse } from './bearer';
import { log } from './log';
import {
  authorizeApiRequest,
  type AccessTokenClaims,
  type ApiRequest,
  type Authorization,
} from './resource-server';
import { NO_STORE_NO_TRANSFORM } from './cache-control';

/**
 * The protected API, `GET /api/messages` and `GET /api/messages/{id}`: what it answers, kept out
 * of `app/` so that tests call exactly what the route handlers run, without Next.js.
 */

/** The protected resource itself: what a caller with the API's scope may read. */
export const MESSAGES = Object.freeze([
  { id: 1, text: 'Hello from the protected API.' },
  {
    id: 2,
    text:
      'You reached me with a JWT access token for this API: from the client-credentials grant ' +
      '(no user), or a signed-in user’s, obtained by the app with a refresh grant. No client ' +
      'secret either way.',
  },
]);

/**
 * Answers a request to the API: 200 with the messages and who called, or the refusal
 * (400/401/403 with a `WWW-Authenticate` challenge: `Bearer`, RFC 6750 §3, or `DPoP`, RFC 9449
 * §7.1), or 503 when the provider's keys cannot be fetched to verify the token. Every answer is
 * `Cache-Control: no-store`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export async function answerMessagesRequest(
  request: ApiRequest,
  authorize: (request: ApiRequest) => Promise<Authorization> = authorizeApiRequest,
): Promise<Response> {
  return answerApiRequest(request, authorize, (claims) => ({
    messages: MESSAGES,
    caller: { client_id: claims.client_id, sub: claims.sub, scope: claims.scope },
    // When the presented token was issued and expires (never the token): shows a refresh.
    token: { iat: claims.iat, exp: claims.exp },
  }));
}

/**
 * `GET /api/messages/{id}`: one message, under the same rules (a DPoP proof made for
 * `/api/messages` is refused here: its `htu` names another URL, RFC 9449 §4.3). 404 for an id
 * that names no message, once the caller is authorized.
 */
export async function answerMessageRequest(
  request: ApiRequest,
  id: string,
  authorize: (request: ApiRequest) => Promise<Authorization> = authorizeApiRequest,
): Promise<Response> {
  return answerApiRequest(request, authorize, (claims) => {
    const message = MESSAGES.find((m) => String(m.id) === id);
    return message
      ? { message, caller: { client_id: claims.client_id, sub: claims.sub, scope: claims.scope } }
      : undefined;
  });
}

/** Authorizes a request, then answers with `body(claims)` (404 when it gives nothing). */
async function answerApiRequest(
  request: ApiRequest,
  authorize: (request: ApiRequest) => Promise<Authorization>,
  body: (claims: AccessTokenClaims) => Record<string, unknown> | undefined,
): Promise<Response> {
  const result = await authorize(request);
  if (!result.ok) {
    log.info('api request refused', {
      status: result.status,
      error: result.status === 503 ? undefined : result.challenge.error,
      reason: result.reason,
    });
    if (result.status === 503) {
      return Response.json(
        {
          error: 'temporarily_unavailable',
          error_description: 'The access token cannot be verified right now; retry later',
        },
        { status: 503, headers: { 'cache-control': NO_STORE_NO_TRANSFORM, 'retry-after': '5' } },
      );
    }
    return challengeErrorResponse(result.challenge, result.others, result.headers);
  }
  const headers = { 'cache-control': NO_STORE_NO_TRANSFORM, ...result.headers };
  const answer = body(result.claims);
  if (!answer) return Response.json({ error: 'not_found' }, { status: 404, headers });
  return Response.json(answer, { headers });
}
