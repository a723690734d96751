import type { Metadata } from 'next';

import { getConfig } from '@/lib/config';

import { MachinePanel } from './machine-panel';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Machine to machine · private_key_jwt RP' };

/**
 * `/machine` — the client-credentials grant and the protected API, no sign-in needed: a button
 * makes the server get a token (authenticating with a fresh client assertion, or taking the
 * cached token) and call `GET /api/messages` with it, then shows what was sent and received.
 */
export default function MachinePage() {
  const { api, issuer } = getConfig();
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
      <MachinePanel />
      <h2>From the command line</h2>
      <pre>npm run client-credentials</pre>
      <p className="muted">
        Does the same against the configured provider and prints the token’s claims and the API’s
        answer.
      </p>
    </>
  );
}
