import Link from 'next/link';
import type { Metadata } from 'next';

import { listClientAuthHints } from '@/lib/client-auth-hints';
import { AUTH_ERROR_CATALOG, isAuthErrorCode } from '@/lib/errors';
import { readErrorFlash } from '@/lib/session';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Sign-in failed · private_key_jwt RP' };

type Props = { searchParams: Promise<Record<string, string | string[] | undefined>> };

/**
 * The error page of every failed sign-in. The title and hint come from the catalog, keyed by the
 * code in the URL; the provider's OAuth error comes from a sealed cookie set by the failing route,
 * so nothing on this page is text an attacker can put in a link. React escapes all of it.
 */
export default async function AuthErrorPage({ searchParams }: Props) {
  const raw = (await searchParams).code;
  const code = isAuthErrorCode(raw) ? raw : 'signin_failed';
  const entry = AUTH_ERROR_CATALOG[code];
  const flash = await readErrorFlash(code);
  return (
    <>
      <h1 data-testid="error-title">{entry.title}</h1>
      <div className="card">
        <p>
          Error code:{' '}
          <span className="error-code" data-testid="error-code">
            {code}
          </span>
        </p>
        {flash?.error ? (
          <p>
            The provider said: <code data-testid="oauth-error">{flash.error}</code>
            {flash.error_description ? (
              <>
                {' '}
                — <span data-testid="oauth-error-description">{flash.error_description}</span>
              </>
            ) : null}
          </p>
        ) : null}
        <p data-testid="error-hint">{entry.hint}</p>
        {code === 'client_authentication_failed' ||
        code === 'client_authentication_likely_failed' ? (
          <ul data-testid="client-auth-hints">
            {listClientAuthHints().map((hint) => (
              <li key={hint}>{hint}</li>
            ))}
          </ul>
        ) : null}
      </div>
      <p>
        <a className="button" href="/auth/login?returnTo=/profile">
          Try again
        </a>{' '}
        <Link href="/">Home</Link>
      </p>
    </>
  );
}
