import type { Metadata } from 'next';

import { idTokenClaims, requireSession, userClaims } from '@/lib/dal';

import {
  ASSERTION_CLAIM_NOTES,
  ASSERTION_HEADER_NOTES,
  ID_TOKEN_CLAIM_NOTES,
} from '../_components/claim-notes';
import { ClaimsTable, JwtCard } from '../_components/claims-table';
import { SignInFlow } from '../_components/sign-in-flow';
import { UserApiPanel } from './user-api-panel';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Profile · private_key_jwt RP' };

export default async function ProfilePage() {
  const session = await requireSession('/profile');
  const claims = idTokenClaims(session);
  const { name } = userClaims(session);
  const assertion = session.client_assertion;
  const lifetime =
    assertion &&
    typeof assertion.payload.exp === 'number' &&
    typeof assertion.payload.iat === 'number'
      ? assertion.payload.exp - assertion.payload.iat
      : undefined;
  return (
    <>
      <h1>
        Signed in as{' '}
        <span data-testid="profile-sub">{typeof name === 'string' ? name : session.sub}</span>
      </h1>

      <p>
        <a href="/inspector" data-testid="inspector-link">
          Inspect this sign-in step by step
        </a>{' '}
        <span className="muted">(every request, timing and check)</span>
      </p>

      <h2>The protected API, called as you</h2>
      <p className="muted">
        The app holds your tokens on its server (a backend-for-frontend): it calls{' '}
        <code>GET /api/messages</code> with your access token for the API, refreshing it first when
        it expires within 30 seconds. This page only ever sees the token decoded. The same call as
        JSON: <a href="/api/me/messages">/api/me/messages</a>.
      </p>
      <UserApiPanel />

      <h2>The client assertion that redeemed your authorization code</h2>
      <p className="muted">
        Signed by this app moments before it called the token endpoint
        {lifetime !== undefined ? `, valid for ${lifetime} seconds` : ''}. This JWT replaced the
        client secret.
      </p>
      {assertion ? (
        <JwtCard
          jwt={assertion}
          headerNotes={ASSERTION_HEADER_NOTES}
          claimNotes={ASSERTION_CLAIM_NOTES}
          prefix="assertion"
        />
      ) : (
        <p className="card muted">
          Not kept for this session (it did not fit in the session cookie).
        </p>
      )}

      {session.flow ? <SignInFlow flow={session.flow} /> : null}

      <h2>ID token claims</h2>
      <p className="muted">
        Signature verified against the provider’s JWKS; issuer, audience, expiry and nonce checked.
      </p>
      <div className="card">
        <ClaimsTable claims={claims} notes={ID_TOKEN_CLAIM_NOTES} testId="id-token-claims" />
      </div>

      <h2>UserInfo</h2>
      {session.userinfo ? (
        <div className="card">
          <ClaimsTable claims={session.userinfo} testId="userinfo" />
        </div>
      ) : (
        <p className="card muted">
          The provider has no UserInfo endpoint, or its answer did not fit in the session cookie.
        </p>
      )}
    </>
  );
}
