import { AUTH_ERROR_CATALOG } from './errors';
import { NO_STORE_NO_TRANSFORM } from './cache-control';

/**
 * The answer of a page that needs the session while the session store is unreachable: 503 with a
 * short HTML page that says so and offers to try again (a page component cannot set a status,
 * so `proxy.ts` and the pages' data access layer send browsers here).
 */

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * 503, `Retry-After: 5`, never cached. `returnTo` must already be a sanitised same-origin path.
 * `hint` replaces the usual one ("Nobody was signed out") where that is not true.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4 (503 Service Unavailable)
 */
export function renderSessionUnavailable(
  returnTo: string,
  options: { hint?: string } = {},
): Response {
  const { title } = AUTH_ERROR_CATALOG.session_store_unavailable;
  const hint = options.hint ?? AUTH_ERROR_CATALOG.session_store_unavailable.hint;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1 data-testid="error-title">${escapeHtml(title)}</h1>
<p>Error code: <span data-testid="error-code">session_store_unavailable</span></p>
<p data-testid="error-hint">${escapeHtml(hint)}</p>
<p><a href="${escapeHtml(returnTo)}">Try again</a></p>
</body></html>`;
  return new Response(html, {
    status: 503,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': NO_STORE_NO_TRANSFORM,
      'retry-after': '5',
    },
  });
}

/** The JSON 503 of an API route that needs the session while the store is unreachable. */
export function jsonSessionUnavailable(): Response {
  return Response.json(
    {
      error: 'temporarily_unavailable',
      error_description:
        'The session store cannot be reached; nobody was signed out. Retry shortly.',
    },
    { status: 503, headers: { 'cache-control': NO_STORE_NO_TRANSFORM, 'retry-after': '5' } },
  );
}
