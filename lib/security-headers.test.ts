import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { NextConfig } from 'next';

import {
  buildContentSecurityPolicy,
  createNonce,
  STRICT_TRANSPORT_SECURITY,
} from './security-headers';

function parseDirectives(csp: string): Map<string, string[]> {
  return new Map(
    csp.split(';').map((d) => {
      const [name = '', ...values] = d.trim().split(/\s+/);
      return [name, values] as const;
    }),
  );
}

const PRODUCTION = { formActions: ['http://localhost:4000'], https: false, development: false };

describe('buildContentSecurityPolicy', () => {
  it('allows scripts and styles only by nonce (strict-dynamic), never inline or eval, in production', () => {
    const csp = parseDirectives(buildContentSecurityPolicy('abc123==', PRODUCTION));
    assert.deepEqual(csp.get('script-src'), ["'self'", "'nonce-abc123=='", "'strict-dynamic'"]);
    assert.deepEqual(csp.get('style-src'), ["'self'", "'nonce-abc123=='"]);
    assert.deepEqual(csp.get('object-src'), ["'none'"]);
    assert.deepEqual(csp.get('base-uri'), ["'none'"]);
    assert.deepEqual(csp.get('frame-ancestors'), ["'none'"]);
    assert.equal(csp.has('upgrade-insecure-requests'), false);
  });

  it('lets forms reach this app and the given provider origins, once each', () => {
    const csp = parseDirectives(
      buildContentSecurityPolicy('n', {
        ...PRODUCTION,
        formActions: ['https://op.example', 'https://op.example', 'https://logout.example'],
      }),
    );
    assert.deepEqual(csp.get('form-action'), [
      "'self'",
      'https://op.example',
      'https://logout.example',
    ]);
  });

  it('upgrades subresources on https, and relaxes only for next dev', () => {
    assert.equal(
      parseDirectives(buildContentSecurityPolicy('n', { ...PRODUCTION, https: true })).has(
        'upgrade-insecure-requests',
      ),
      true,
    );
    const dev = parseDirectives(
      buildContentSecurityPolicy('n', { ...PRODUCTION, development: true }),
    );
    assert.ok(dev.get('script-src')?.includes("'unsafe-eval'"));
    assert.ok(dev.get('style-src')?.includes("'unsafe-inline'"));
  });

  it('makes a fresh 128-bit nonce each time', () => {
    const nonces = new Set(Array.from({ length: 50 }, createNonce));
    assert.equal(nonces.size, 50);
    for (const nonce of nonces) assert.match(nonce, /^[A-Za-z0-9+/]{22}==$/);
  });
});

describe('next.config.js headers (fixed at build time)', () => {
  type Rule = { source: string; headers: Array<{ key: string; value: string }> };

  async function buildHeaders(appUrl: string | undefined): Promise<Rule[]> {
    const saved = process.env.APP_URL;
    if (appUrl === undefined) delete process.env.APP_URL;
    else process.env.APP_URL = appUrl;
    try {
      // A computed specifier: the file is JavaScript, outside the type check.
      const file = new URL('../next.config.js', import.meta.url).href;
      const { default: nextConfig } = (await import(file)) as { default: NextConfig };
      return (await nextConfig.headers?.()) as Rule[];
    } finally {
      if (saved === undefined) delete process.env.APP_URL;
      else process.env.APP_URL = saved;
    }
  }

  function findHsts(rules: Rule[]): string[] {
    return rules
      .filter((rule) => rule.source === '/:path*')
      .flatMap((rule) => rule.headers)
      .filter((h) => h.key.toLowerCase() === 'strict-transport-security')
      .map((h) => h.value);
  }

  it('sends HSTS on every response, static files included, when the build’s APP_URL is https', async () => {
    assert.deepEqual(findHsts(await buildHeaders('https://app.example')), [
      STRICT_TRANSPORT_SECURITY,
    ]);
  });

  it('sends no HSTS for an http APP_URL, or none at all', async () => {
    assert.deepEqual(findHsts(await buildHeaders('http://localhost:3000')), []);
    assert.deepEqual(findHsts(await buildHeaders(undefined)), []);
    assert.deepEqual(findHsts(await buildHeaders('not a url')), []);
  });
});
