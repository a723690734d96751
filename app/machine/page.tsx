import type { Metadata } from 'next';

import { getConfig } from '@/lib/config';
import { getSession } from '@/lib/dal';
import { decideMachineAccess } from '@/lib/machine-access';

import { MachinePanel } from './machine-panel';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Machine to machine · private_key_jwt RP' };

/** Why the page asks for a sign-in: shown to anonymous visitors outside development. */
function SignInRequired() {
  return (
    <div className="card" data-testid="machine-sign-in-required">
      <h2>Sign in to use this page</h2>
      <p>
        The button here makes the app act as itself: it gets an access token with its own
        credentials (its private key) and shows you what the API tells the app. Offered to anyone,
        that would lend the app’s identity to every visitor of the web site, who could read what
        only the app may read and make it spend grants at the provider (a <em>confused deputy</em>
        ). So it is for signed-in users only; in development (<code>npm run dev</code>) it is open.
      </p>
      <p>
        <a className="button" href="/auth/login?returnTo=/machine">
          Sign in
        </a>
      </p>
    </div>
  );
}

/**
 * `/machine` — the client-credentials grant and the protected API: a button makes the server get a
 * token (authenticating with a fresh client assertion, or taking the cached token) and call
 * `GET /api/messages` with it, then shows what was sent and received. Signed-in users only, except
 * in development (lib/machine-access.ts).
 */
export default async function MachinePage() {
  const { api, issuer } = getConfig();
  // A store outage sends the browser to /auth/unavailable (lib/dal.ts), never a 500.
  const access = decideMachineAccess((await getSession('/machine')) !== undefined);
  return (
    <>
      <h1>Machine to machine</h1>
      <p>
        No user here: the app calls an API as itself. It asks the provider’s token endpoint for an
        access token with the <strong>client-credentials grant</strong>, and proves who it is the
        same way it does when it redeems a sign-in code: with a client assertion, a short-lived JWT
        signed by its private key (<code>private_key_jwt</code>), not a client secret. The token is
        cached until shortly before it expires; many callers at once still cause one token request.
      </p>
      <p>
        The API, <code>GET /api/messages</code> in this app, accepts only{' '}
        <code>Authorization: Bearer</code> with a JWT access token (RFC 9068) whose signature
        verifies with the provider’s keys, issued by <code>{issuer}</code> for{' '}
        <code>{api.resource}</code>, unexpired, with scope <code>{api.scope}</code>. Everything else
        gets a 401 or 403 and a <code>WWW-Authenticate</code> challenge.
      </p>
      {access.allowed ? (
        <>
          {access.because === 'development' ? (
            <p className="card muted" data-testid="machine-open-in-development">
              Open without sign-in because this is development (<code>NODE_ENV=development</code>).
              Anywhere else this page and its button require a signed-in user: they use the app’s
              own identity, which must not be lent to anonymous visitors.
            </p>
          ) : null}
          <MachinePanel />
        </>
      ) : (
        <SignInRequired />
      )}
      <h2>From the command line</h2>
      <pre>npm run client-credentials</pre>
      <p className="muted">
        Does the same against the configured provider and prints the token’s claims and the API’s
        answer.
      </p>
    </>
  );
}
