export const dynamic = 'force-dynamic';

/**
 * `GET /bare` — nothing but Next.js: a route handler with no work, outside the proxy's matcher.
 * The benchmark times it as what the framework alone costs a request (not part of the peer's
 * measured sign-in).
 */
export function GET() {
  return new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } });
}
