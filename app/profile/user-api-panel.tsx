'use client';

import { useActionState } from 'react';

import { formatInstant } from '@/lib/time-display';
import type { UserApiCallOutcome, UserTokenView } from '@/lib/user-api-call';

import {
  ASSERTION_CLAIM_NOTES,
  ASSERTION_HEADER_NOTES,
  DPOP_PROOF_CLAIM_NOTES,
  DPOP_PROOF_HEADER_NOTES,
} from '../_components/claim-notes';
import { JwtCard } from '../_components/claims-table';
import { ACCESS_TOKEN_HEADER_NOTES } from '../machine/claim-notes';
import { runUserApiCall, type UserCallRun } from './actions';

const USER_TOKEN_CLAIM_NOTES: Record<string, string> = {
  iss: 'The provider that issued it; the API requires exactly the configured issuer.',
  aud: 'The API’s resource indicator (RFC 8707), and only it: this token is for the API, not for UserInfo.',
  sub: 'You: the API acts for the signed-in user.',
  client_id: 'This app, which holds the token for you (a backend-for-frontend).',
  scope: 'Down-scoped to the API’s scope by the refresh request.',
  jti: 'Unique identifier of this token.',
  iat: 'When the provider issued it (the API’s answer repeats it).',
  exp: 'Expiry (PROVIDER_ACCESS_TOKEN_TTL at the bundled provider): the app refreshes 30 s before.',
};

function describeSource(token: UserTokenView): string {
  switch (token.source) {
    case 'store':
      return 'From your server-side session: no request to the provider.';
    case 'refreshed':
      return (
        'Refreshed just now: a refresh grant with resource=API_RESOURCE, authenticated by a ' +
        'newly signed client assertion (below); a rotated refresh token replaced the stored one.'
      );
    case 'shared':
      return (
        'Another request of this session was refreshing at the same moment; this one waited for ' +
        'it (one refresh grant for both).'
      );
    case 'other_instance':
      return 'Another instance (or request) held the refresh lock; this one took the tokens it stored.';
  }
}

function Outcome({ outcome }: { outcome: UserApiCallOutcome }) {
  if (!outcome.ok) {
    return (
      <div className="card" data-testid="user-api-error">
        <h3>{outcome.title}</h3>
        <p>
          Error code:{' '}
          <span className="error-code" data-testid="user-api-error-code">
            {outcome.code}
          </span>
        </p>
        {outcome.error ? (
          <p>
            The provider said: <code>{outcome.error}</code>
            {outcome.error_description ? ` — ${outcome.error_description}` : ''}
          </p>
        ) : null}
        <p>{outcome.hint}</p>
        {outcome.code === 'session_expired' || outcome.code === 'not_signed_in' ? (
          <p>
            <a className="button" href="/auth/login?returnTo=/profile">
              Sign in again
            </a>
          </p>
        ) : null}
      </div>
    );
  }
  const { token, api } = outcome;
  return (
    <>
      <h3>1. The request</h3>
      <pre className="card" data-testid="user-api-request">
        {[
          `${outcome.request.method} ${outcome.request.url}`,
          `Authorization: ${token.tokenType === 'dpop' ? 'DPoP' : 'Bearer'} ` +
            '<your access token: kept on the server, never sent to this page>',
          ...(token.tokenType === 'dpop'
            ? ['DPoP: <a proof signed by your session’s key, below>']
            : []),
        ].join('\n')}
      </pre>
      <p className="card" data-testid="user-token-source" data-source={token.source}>
        {describeSource(token)}{' '}
        {token.expiresAt ? `Expires at ${formatInstant(token.expiresAt)}.` : ''}
      </p>
      {token.refreshAssertion ? (
        <>
          <h3>The client assertion of the refresh</h3>
          <JwtCard
            jwt={token.refreshAssertion}
            headerNotes={ASSERTION_HEADER_NOTES}
            claimNotes={ASSERTION_CLAIM_NOTES}
            prefix="refresh-assertion"
          />
        </>
      ) : null}
      {token.refreshProofs.map((proof, i) => (
        <div key={i}>
          <h3>DPoP proof {i + 1} of the refresh</h3>
          <JwtCard
            jwt={proof}
            headerNotes={DPOP_PROOF_HEADER_NOTES}
            claimNotes={DPOP_PROOF_CLAIM_NOTES}
            prefix={`refresh-dpop-${i + 1}`}
          />
        </div>
      ))}
      <h3>2. Your access token, decoded</h3>
      {token.accessToken ? (
        <JwtCard
          jwt={token.accessToken}
          headerNotes={ACCESS_TOKEN_HEADER_NOTES}
          claimNotes={USER_TOKEN_CLAIM_NOTES}
          prefix="user-token"
        />
      ) : (
        <p className="card muted">An opaque token (not a JWT): only the provider can read it.</p>
      )}
      <h3>3. The API’s answer</h3>
      <div className="card">
        <p>
          → <strong data-testid="user-api-status">{api.status}</strong>{' '}
          <span className="muted">({api.ms} ms)</span>
        </p>
        <pre data-testid="user-api-body">
          {typeof api.body === 'string' ? api.body : JSON.stringify(api.body, null, 2)}
        </pre>
      </div>
      {api.dpop?.proofs.map((proof, i) => (
        <div key={i} data-testid={`user-api-dpop-${i + 1}`}>
          <h3>
            DPoP proof {i + 1} sent to the API
            {i > 0 ? ' (the API asked for a nonce; retried once)' : ''}
          </h3>
          <JwtCard
            jwt={proof}
            headerNotes={DPOP_PROOF_HEADER_NOTES}
            claimNotes={DPOP_PROOF_CLAIM_NOTES}
            prefix={`user-api-dpop-${i + 1}`}
          />
        </div>
      ))}
    </>
  );
}

/** The button on /profile: call the protected API as the signed-in user, and what it did. */
export function UserApiPanel() {
  const [run, action, pending] = useActionState<UserCallRun | undefined>(runUserApiCall, undefined);
  return (
    <>
      <form action={action} className="card">
        <button type="submit" disabled={pending} data-testid="user-api-run">
          {pending ? 'Working…' : 'Call the API as you'}
        </button>{' '}
        {run ? (
          <span className="muted" data-testid="user-api-ran-at">
            Last call at {formatInstant(run.at)}
          </span>
        ) : null}
      </form>
      {run ? <Outcome outcome={run.outcome} /> : null}
    </>
  );
}
