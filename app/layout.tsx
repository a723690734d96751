import Link from 'next/link';
import type { Metadata } from 'next';
import type { ReactNode } from 'react';

import { getSession } from '@/lib/dal';

import './globals.css';

export const metadata: Metadata = {
  title: 'private_key_jwt relying party',
  description:
    'OpenID Connect sign-in where the app authenticates with a signed JWT instead of a client secret',
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  const session = await getSession();
  return (
    <html lang="en">
      <body>
        <header className="site">
          <nav>
            <Link className="brand" href="/">
              private_key_jwt RP
            </Link>
            <a href="/profile">Profile</a>
            <a href="/machine">Machine to machine</a>
            {session ? <a href="/inspector">Inspector</a> : null}
            {session ? (
              <form className="inline" method="post" action="/auth/logout">
                <button className="secondary" type="submit">
                  Sign out
                </button>
              </form>
            ) : (
              // A plain anchor: a prefetching <Link> could prefetch the redirecting route.
              <a className="button" href="/auth/login?returnTo=/profile">
                Sign in
              </a>
            )}
          </nav>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
