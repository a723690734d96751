'use client';

import { useActionState } from 'react';

import type { MachineCallOutcome, TokenView } from '@/lib/machine-call';
import { formatInstant } from '@/lib/time-display';

import {
  ASSERTION_CLAIM_NOTES,
  ASSERTION_HEADER_NOTES,
  DPOP_PROOF_CLAIM_NOTES,
  DPOP_PROOF_HEADER_NOTES,
} from '../_components/claim-notes';
import { JwtCard } from '../_components/claims-table';
import { runMachineCall, type MachineRun } from './actions';
import { ACCESS_TOKEN_CLAIM_NOTES, ACCESS_TOKEN_HEADER_NOTES } from './claim-notes';

function describeSource(token: TokenView): string {
  switch (token.source) {
    case 'token_endpoint':
      return 'Requested from the token endpoint just now, with a newly signed client assertion.';
    case 'in_flight':
      return 'Shared: another request was already fetching a token, and this one waited for it.';
    case 'cache':
      return (
        `From the cache: no request to the provider. Requested at ` +
        `${formatInstant(token.requestedAt)}; replaced after ` +
        `${formatInstant(token.refreshAt)}.`
      );
  }
}

function TokenSource({ token }: { token: TokenView }) {
  return (
    <p
      className="card"
      data-testid="token-source"
      data-source={token.source}
      data-from-cache={token.source === 'cache' ? 'yes' : 'no'}
    >
      <strong>{token.source === 'cache' ? 'Token from the cache' : 'New token'}</strong> —{' '}
      {describeSource(token)}
    </p>
  );
}

function AssertionSection({ token }: { token: TokenView }) {
  return (
    <>
      <h2>1. The client assertion sent</h2>
      <p className="muted">
        {token.source === 'token_endpoint'
          ? 'Signed moments before the token request, with the app’s private key; it replaced the client secret.'
          : `The one that authenticated the token request of ` +
            `${formatInstant(token.requestedAt)}, which got the token in use.`}
      </p>
      {token.assertion ? (
        <JwtCard
          jwt={token.assertion}
          headerNotes={ASSERTION_HEADER_NOTES}
          claimNotes={ASSERTION_CLAIM_NOTES}
          prefix="assertion"
        />
      ) : (
        <p className="card muted">Not captured.</p>
      )}
    </>
  );
}

function AccessTokenSection({ token }: { token: TokenView }) {
  return (
    <>
      <h2>2. The access token received</h2>
      <p className="muted">
        token_type <code data-testid="token-type">{token.token_type}</code>
        {token.token_type === 'dpop'
          ? ' (bound to a key of this app, RFC 9449: worthless without a proof of that key)'
          : ''}
        , granted scope <code>{token.scope ?? '(not stated)'}</code>, expires_in{' '}
        {token.expires_in ?? '(not stated)'} s
        {token.expiresAt ? `, expires at ${formatInstant(token.expiresAt)}` : ''}. Shown decoded:
        the token itself never leaves the server.
      </p>
      {token.accessToken ? (
        <JwtCard
          jwt={token.accessToken}
          headerNotes={ACCESS_TOKEN_HEADER_NOTES}
          claimNotes={ACCESS_TOKEN_CLAIM_NOTES}
          prefix="access-token"
        />
      ) : (
        <p className="card muted">An opaque token (not a JWT): only the provider can read it.</p>
      )}
    </>
  );
}

function ApiSection({ outcome }: { outcome: Exclude<MachineCallOutcome, { stage: 'token' }> }) {
  return (
    <>
      <h2>3. The API’s answer</h2>
      {outcome.ok ? (
        <div className="card">
          <p>
            <code>GET {outcome.api.url}</code> →{' '}
            <strong
              data-testid="api-status"
              className={outcome.api.status === 200 ? 'ok' : 'error-code'}
            >
              {outcome.api.status}
            </strong>{' '}
            <span className="muted">({outcome.api.ms} ms)</span>
          </p>
          {outcome.api.wwwAuthenticate ? (
            <p>
              WWW-Authenticate:{' '}
              <code data-testid="api-www-authenticate">{outcome.api.wwwAuthenticate}</code>
            </p>
          ) : null}
          {outcome.retriedWithNewToken ? (
            <p className="muted">
              The API refused the cached token; the app dropped it and retried once with a new one.
            </p>
          ) : null}
          <pre data-testid="api-body">
            {typeof outcome.api.body === 'string'
              ? outcome.api.body
              : JSON.stringify(outcome.api.body, null, 2)}
          </pre>
          {outcome.api.dpop?.proofs.map((proof, i) => (
            <div key={i}>
              <h3>
                DPoP proof {i + 1} of {outcome.api.dpop?.proofs.length}
                {i > 0 ? ' (the API asked for a nonce; retried once)' : ''}
              </h3>
              <JwtCard
                jwt={proof}
                headerNotes={DPOP_PROOF_HEADER_NOTES}
                claimNotes={DPOP_PROOF_CLAIM_NOTES}
                prefix={`api-dpop-${i + 1}`}
              />
            </div>
          ))}
        </div>
      ) : (
        <p className="card" data-testid="api-unreachable">
          The API at <code>{outcome.url}</code> could not be reached: {outcome.message}
        </p>
      )}
    </>
  );
}

function Outcome({ outcome }: { outcome: MachineCallOutcome }) {
  if (!outcome.ok && outcome.stage === 'token') {
    return (
      <div className="card" data-testid="machine-error">
        <h2>No token: {outcome.title}</h2>
        <p>
          Error code:{' '}
          <span className="error-code" data-testid="machine-error-code">
            {outcome.code}
          </span>
        </p>
        {outcome.error ? (
          <p>
            The provider said: <code data-testid="machine-oauth-error">{outcome.error}</code>
            {outcome.error_description ? ` — ${outcome.error_description}` : ''}
          </p>
        ) : null}
        <p>{outcome.hint}</p>
      </div>
    );
  }
  return (
    <>
      <TokenSource token={outcome.token} />
      <AssertionSection token={outcome.token} />
      <AccessTokenSection token={outcome.token} />
      <ApiSection outcome={outcome} />
    </>
  );
}

/** What the action answers when nobody is signed in (the session ended, or a forged POST). */
function Refused({ reason }: { reason: 'sign_in_required' | 'session_store_unavailable' }) {
  return reason === 'sign_in_required' ? (
    <p className="card" data-testid="machine-refused" data-reason={reason}>
      <strong>Sign-in required.</strong> Nothing was asked of the provider.{' '}
      <a href="/auth/login?returnTo=/machine">Sign in</a> and try again.
    </p>
  ) : (
    <p className="card" data-testid="machine-refused" data-reason={reason}>
      <strong>The session store cannot be reached</strong>, so who you are is not known now. Nothing
      was asked of the provider; try again shortly.
    </p>
  );
}

/** The button and what the last press of it did. */
export function MachinePanel() {
  const [run, action, pending] = useActionState<MachineRun | undefined>(runMachineCall, undefined);
  return (
    <>
      <form action={action} className="card">
        <button type="submit" disabled={pending} data-testid="machine-run">
          {pending ? 'Working…' : 'Get a token and call the API'}
        </button>{' '}
        {run ? (
          <span className="muted" data-testid="machine-ran-at">
            Last run at {formatInstant(run.at)}
          </span>
        ) : null}
      </form>
      {run && 'refused' in run ? <Refused reason={run.refused} /> : null}
      {run && 'outcome' in run ? <Outcome outcome={run.outcome} /> : null}
    </>
  );
}
