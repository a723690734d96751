import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { Browser } from '@playwright/test';

import { earliestPromotion, earliestRetirement, type PrivateJwk } from '../keys/rotation';
import { ALICE, expect, signIn, test } from './fixtures';
import {
  CERTIFIED_CERT,
  CERTIFIED_PFX,
  CERTIFIED_PFX_PASSPHRASE,
  ES256_KEY,
  ROTATION_KEY,
} from './support/material';
import { PORT_BASE, startStack, type Stack } from './support/stack';

/**
 * Client keys end to end: a key rotation with the key tool while the app runs (no restart, no
 * failed sign-in), an EC key, and a client that the provider knows only by its X.509 certificate.
 * Each test starts its own provider and app on ports of its own.
 */

test.describe.configure({ mode: 'serial' });

type SignedWith = {
  alg: string;
  kid: string;
  x5tS256: string | null;
  x5t: string | null;
  typ: string | null;
  aud: string;
};

/** Signs Alice in, in a fresh browser (so the provider asks for her password), and reads /profile. */
async function signInAndReadAssertion(browser: Browser, stack: Stack): Promise<SignedWith> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await signIn(page, stack, ALICE);
    await expect(page.getByTestId('profile-sub')).toHaveText(ALICE.name);
    const header = page.getByTestId('assertion-header');
    const cell = async (table: typeof header, name: string) => {
      const row = table.locator(`tr[data-claim="${name}"] td.value`);
      return (await row.count()) ? row.textContent() : null;
    };
    return {
      alg: (await cell(header, 'alg')) ?? '',
      kid: (await cell(header, 'kid')) ?? '',
      x5tS256: await cell(header, 'x5t#S256'),
      x5t: await cell(header, 'x5t'),
      typ: await cell(header, 'typ'),
      aud: (await cell(page.getByTestId('assertion-payload'), 'aud')) ?? '',
    };
  } finally {
    await context.close();
  }
}

async function publishedKids(stack: Stack): Promise<string[]> {
  const response = await fetch(`${stack.appUrl}/.well-known/jwks.json`);
  return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
}

/**
 * The rotation test's assertion lifetime, for the app and the key tool alike: `retire` waits for
 * it, and a short one keeps that wait short.
 */
const ROTATION_ASSERTION_LIFETIME = '5';

function keyTool(...args: string[]): string {
  return execFileSync(
    process.execPath,
    ['--import', 'tsx', 'keys/cli.ts', ...args, '--file', ROTATION_KEY],
    {
      encoding: 'utf8',
      stdio: 'pipe',
      env: { ...process.env, OIDC_CLIENT_ASSERTION_LIFETIME: ROTATION_ASSERTION_LIFETIME },
    },
  );
}

function fileKeys(): PrivateJwk[] {
  return (JSON.parse(readFileSync(ROTATION_KEY, 'utf8')) as { keys: PrivateJwk[] }).keys;
}

/** How often the provider fetched the app's jwks_uri so far. */
function jwksFetches(stack: Stack): number {
  return stack
    .providerLog()
    .filter((line) => line.includes(`outbound GET ${stack.appUrl}/.well-known/jwks.json`)).length;
}

test(
  'a key rotation with the key tool while the app runs: no sign-in fails, and ' +
    'the provider refetches the JWKS',
  async ({ browser }) => {
    test.setTimeout(240_000);
    const stack = await startStack({
      appPort: PORT_BASE + 1,
      providerPort: PORT_BASE + 1001,
      appEnv: {
        OIDC_CLIENT_KEY_FILE: ROTATION_KEY,
        OIDC_CLIENT_ASSERTION_LIFETIME: ROTATION_ASSERTION_LIFETIME,
      },
    });
    try {
      const [a] = await publishedKids(stack);
      expect(a).toBeTruthy();
      expect((await signInAndReadAssertion(browser, stack)).kid).toBe(a);
      expect(jwksFetches(stack)).toBe(1);

      // rotate: B is published at once (the app reloads the key file), A still signs.
      expect(keyTool('rotate')).toContain('published now, not signing yet');
      const b = fileKeys()[1]?.kid;
      expect(b).toBeTruthy();
      await expect.poll(() => publishedKids(stack), { timeout: 10_000 }).toEqual([a, b]);
      expect((await signInAndReadAssertion(browser, stack)).kid).toBe(a);

      // promote: refused until B has been published longer than providers cache the JWKS.
      expect(() => keyTool('promote')).toThrow(/has been published for less than/);
      const earliest = earliestPromotion(fileKeys()[1] as PrivateJwk);
      expect(earliest).toBeDefined();
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, (earliest?.getTime() ?? 0) - Date.now() + 500)),
      );
      expect(keyTool('promote')).toContain(`Key ${b} signs`);
      // retire: refused while an assertion signed by A may still be accepted.
      expect(() => keyTool('retire')).toThrow(/may still be valid/);
      const retireAt = earliestRetirement(
        { keys: fileKeys() },
        Number(ROTATION_ASSERTION_LIFETIME),
      );
      expect(retireAt).toBeDefined();
      await expect.poll(() => publishedKids(stack), { timeout: 10_000 }).toEqual([b, a]);
      const fetchesBefore = jwksFetches(stack);
      expect((await signInAndReadAssertion(browser, stack)).kid).toBe(b);
      expect(jwksFetches(stack), 'the provider fetched the JWKS again to verify B').toBeGreaterThan(
        fetchesBefore,
      );

      // retire: A is no longer published; B signs on.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, (retireAt?.getTime() ?? 0) - Date.now() + 500)),
      );
      expect(keyTool('retire')).toContain(`Retired ${a}`);
      await expect.poll(() => publishedKids(stack), { timeout: 10_000 }).toEqual([b]);
      expect((await signInAndReadAssertion(browser, stack)).kid).toBe(b);

      expect(stack.providerLog().filter((line) => line.includes('invalid_client'))).toEqual([]);
      expect(stack.appLog().filter((line) => line.includes('sign-in failed'))).toEqual([]);
      expect(
        stack.appLog().filter((line) => line.includes('client keys reloaded')).length,
      ).toBeGreaterThanOrEqual(3);
    } finally {
      await stack.stop();
    }
  },
);

test('signs in with an EC P-256 key (SEC1 PEM): ES256', async ({ browser }) => {
  const stack = await startStack({
    appPort: PORT_BASE + 2,
    providerPort: PORT_BASE + 1002,
    appEnv: { OIDC_CLIENT_KEY_FILE: ES256_KEY },
  });
  try {
    const jwks = (await (await fetch(`${stack.appUrl}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string; alg: string; kty: string; crv: string }>;
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    const signed = await signInAndReadAssertion(browser, stack);
    expect(signed.alg).toBe('ES256');
    expect(signed.kid).toBe(jwks.keys[0]?.kid);
  } finally {
    await stack.stop();
  }
});

test(
  'signs in as a client registered by its certificate, with the key from a ' +
    'legacy PKCS#12 file and the legacy audience',
  async ({ browser }) => {
    const certificate = new X509Certificate(readFileSync(CERTIFIED_CERT));
    const stack = await startStack({
      appPort: PORT_BASE + 3,
      providerPort: PORT_BASE + 1003,
      appEnv: {
        OIDC_CLIENT_KEY_FILE: CERTIFIED_PFX,
        OIDC_CLIENT_KEY_PASSPHRASE: CERTIFIED_PFX_PASSPHRASE,
        // The article's IdentityServer4 expects the token endpoint as audience.
        OIDC_CLIENT_ASSERTION_AUDIENCE: 'token_endpoint',
        // The SHA-1 thumbprint is opt-in (AD FS and older Microsoft stacks read it).
        OIDC_CLIENT_ASSERTION_X5T_SHA1: 'true',
      },
      providerEnv: {
        PROVIDER_CLIENT_REGISTRATION: 'certificate',
        PROVIDER_CLIENT_CERT_FILE: CERTIFIED_CERT,
        PROVIDER_ASSERTION_AUDIENCE: 'legacy',
      },
    });
    try {
      const signed = await signInAndReadAssertion(browser, stack);
      expect(signed.alg).toBe('RS256');
      expect(signed.x5tS256).toBe(createHash('sha256').update(certificate.raw).digest('base64url'));
      expect(signed.x5t).toBe(createHash('sha1').update(certificate.raw).digest('base64url'));
      expect(signed.aud).toBe(`${stack.issuer}/token`);
      // No RFC 10070 type on an assertion that does not follow RFC 10070's audience rule.
      expect(signed.typ).toBeNull();
      expect(jwksFetches(stack), 'the provider never asked the app for keys').toBe(0);
    } finally {
      await stack.stop();
    }
  },
);
