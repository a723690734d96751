import type { Metadata } from 'next';

import { idTokenClaims, requireSession, userClaims } from '@/lib/dal';

import { ASSERTION_CLAIM_NOTES, ASSERTION_HEADER_NOTES, ID_TOKEN_CLAIM_NOTES } from './claim-notes';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Profile · private_key_jwt RP' };

const TIME_CLAIMS = new Set(['exp', 'iat', 'nbf', 'auth_time', 'updated_at']);

function display(name: string, value: unknown): string {
  if (TIME_CLAIMS.has(name) && typeof value === 'number') {
    return `${value} (${new Date(value * 1000).toISOString()})`;
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function ClaimsTable({ claims, notes, testId }: { claims: Record<string, unknown>; notes?: Record<string, string>; testId: string }) {
  return (
    <table className="claims" data-testid={testId}>
      <tbody>
        {Object.entries(claims).map(([name, value]) => (
          <tr key={name} data-claim={name}>
            <th>{name}</th>
            <td className="value">{display(name, value)}</td>
            {notes ? <td className="muted">{notes[name] ?? ''}</td> : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export default async function ProfilePage() {
  const session = await requireSession('/profile');
  const claims = idTokenClaims(session);
  const { name } = userClaims(session);
  const assertion = session.client_assertion;
  const lifetime =
    assertion && typeof assertion.payload.exp === 'number' && typeof assertion.payload.iat === 'number'
      ? assertion.payload.exp - assertion.payload.iat
      : undefined;
  return (
    <>
      <h1>
        Signed in as <span data-testid="profile-sub">{typeof name === 'string' ? name : session.sub}</span>
      </h1>

      <h2>The client assertion that redeemed your authorization code</h2>
      <p className="muted">
        Signed by this app moments before it called the token endpoint{lifetime !== undefined ? `, valid for ${lifetime} seconds` : ''}.
        This JWT replaced the client secret.
      </p>
      {assertion ? (
        <div className="card">
          <h3>Header</h3>
          <ClaimsTable claims={assertion.header} notes={ASSERTION_HEADER_NOTES} testId="assertion-header" />
          <h3>Payload</h3>
          <ClaimsTable claims={assertion.payload} notes={ASSERTION_CLAIM_NOTES} testId="assertion-payload" />
        </div>
      ) : (
        <p className="card muted">Not kept for this session (it did not fit in the session cookie).</p>
      )}

      <h2>ID token claims</h2>
      <p className="muted">Signature verified against the provider’s JWKS; issuer, audience, expiry and nonce checked.</p>
      <div className="card">
        <ClaimsTable claims={claims} notes={ID_TOKEN_CLAIM_NOTES} testId="id-token-claims" />
      </div>

      <h2>UserInfo</h2>
      {session.userinfo ? (
        <div className="card">
          <ClaimsTable claims={session.userinfo} testId="userinfo" />
        </div>
      ) : (
        <p className="card muted">The provider has no UserInfo endpoint, or its answer did not fit in the session cookie.</p>
      )}
    </>
  );
}
