import { bearerErrorResponse } from './bearer';
import { log } from './log';
import { authorizeApiRequest, type Authorization } from './resource-server';

/**
 * The protected API, `GET /api/messages`: what it answers, kept out of `app/` so that tests call
 * exactly what the route handler runs, without Next.js.
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
 * (400/401/403 with a `WWW-Authenticate: Bearer` challenge, RFC 6750 §3), or 503 when the
 * provider's keys cannot be fetched to verify the token. Every answer is `Cache-Control: no-store`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export async function answerMessagesRequest(
  request: Pick<Request, 'headers' | 'url'>,
  authorize: (
    request: Pick<Request, 'headers' | 'url'>,
  ) => Promise<Authorization> = authorizeApiRequest,
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
        { status: 503, headers: { 'cache-control': 'no-store', 'retry-after': '5' } },
      );
    }
    return bearerErrorResponse(result.challenge);
  }
  const { claims } = result;
  return Response.json(
    {
      messages: MESSAGES,
      caller: { client_id: claims.client_id, sub: claims.sub, scope: claims.scope },
      // When the presented token was issued and expires (never the token): shows a refresh.
      token: { iat: claims.iat, exp: claims.exp },
    },
    { headers: { 'cache-control': 'no-store' } },
  );
}
