import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';

// Settings before the modules read them: an https app, so HSTS applies.
const dir = mkdtempSync(join(tmpdir(), 'rp-headers-'));
writeFileSync(join(dir, 'client.pem'), 'placeholder');
Object.assign(process.env, {
  APP_URL: 'https://app.example',
  OIDC_ISSUER: 'https://op.example/realm',
  OIDC_CLIENT_KEY_FILE: join(dir, 'client.pem'),
  SESSION_SECRET: 's'.repeat(32),
});

const { NextResponse } = await import('next/server');
const { config: proxyConfig } = await import('../proxy');
const { withSecurityHeaders } = await import('./response-security');

function directives(csp: string | null): Map<string, string[]> {
  return new Map(
    (csp ?? '').split(';').map((d) => {
      const [name = '', ...values] = d.trim().split(/\s+/);
      return [name, values] as const;
    }),
  );
}

describe('withSecurityHeaders', () => {
  it('gives a route handler the page CSP with a nonce of its own, and HSTS on https', async () => {
    const handler = withSecurityHeaders(async (status: number) =>
      Response.json({ ok: true }, { status, headers: { 'cache-control': 'no-store' } }),
    );
    const first = await handler(401);
    const second = await handler(200);
    assert.equal(first.status, 401);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    const csp = directives(first.headers.get('content-security-policy'));
    assert.deepEqual(csp.get('frame-ancestors'), ["'none'"]);
    assert.deepEqual(csp.get('form-action'), ["'self'", 'https://op.example']);
    assert.ok(csp.has('upgrade-insecure-requests'));
    const nonce = (r: Response) =>
      directives(r.headers.get('content-security-policy'))
        .get('script-src')
        ?.find((s) => s.startsWith("'nonce-"));
    assert.match(nonce(first) ?? '', /^'nonce-[A-Za-z0-9+/]{22}=='$/);
    assert.notEqual(nonce(first), nonce(second));
    assert.equal(first.headers.get('strict-transport-security'), 'max-age=31536000');
  });

  it('works on redirects (the sign-in routes answer 303)', async () => {
    const handler = withSecurityHeaders(async () =>
      NextResponse.redirect('https://op.example/auth', 303),
    );
    const response = await handler();
    assert.equal(response.status, 303);
    assert.ok(response.headers.get('content-security-policy')?.includes("'nonce-"));
  });
});

/** Every route of app/ as a URL path, with whether it is a page or a route handler (and its file). */
function listRoutes(root: string): { path: string; file: string; kind: 'page' | 'route' }[] {
  const out: { path: string; file: string; kind: 'page' | 'route' }[] = [];
  for (const entry of readdirSync(root)) {
    const full = join(root, entry);
    if (statSync(full).isDirectory()) out.push(...listRoutes(full));
    else if (/^(page|route)\.tsx?$/.test(entry)) {
      const segments = relative('app', root)
        .split(sep)
        .filter((s) => s && !/^\(.*\)$/.test(s));
      out.push({
        path: `/${segments.join('/')}`,
        file: full,
        kind: entry.startsWith('page') ? 'page' : 'route',
      });
    }
  }
  return out;
}

describe('proxy.ts matcher', () => {
  const matcher = proxyConfig.matcher[0];
  assert.ok(matcher);
  const matches = (path: string) => new RegExp(`^${matcher}$`).test(path);

  it('runs on every page (they need the nonce in the request) and on unknown paths', () => {
    const pages = listRoutes('app').filter((r) => r.kind === 'page');
    assert.ok(pages.length >= 4);
    for (const page of pages) assert.ok(matches(page.path), `${page.path} must get the proxy`);
    assert.ok(matches('/no-such-page'));
    assert.ok(matches('/favicon.ico'), 'no icon: the not-found page answers it');
  });

  it('leaves out only route handlers that set the headers themselves', () => {
    const routes = listRoutes('app').filter((r) => r.kind === 'route');
    assert.ok(routes.length >= 5);
    const methods = 'GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS';
    for (const route of routes) {
      if (matches(route.path)) continue;
      const source = readFileSync(route.file, 'utf8');
      const left = `${route.path} is left out of the proxy, so every handler it exports`;
      assert.match(source, new RegExp(`export const (${methods}) = withSecurityHeaders\\(`), left);
      assert.doesNotMatch(
        source,
        new RegExp(
          `export (async )?function (${methods})\\b|export const (${methods}) = (?!withSecurityHeaders\\()`,
        ),
        `${left} must be wrapped in withSecurityHeaders`,
      );
    }
    // The hot ones are indeed left out (that is the point of the wrapper).
    for (const path of ['/auth/login', '/auth/callback', '/api/me', '/.well-known/jwks.json'])
      assert.equal(matches(path), false, path);
  });
});
