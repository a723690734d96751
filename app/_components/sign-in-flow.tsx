import type { SignInFlowView } from '@/lib/flow-view';

import {
  ASSERTION_CLAIM_NOTES,
  ASSERTION_HEADER_NOTES,
  DPOP_PROOF_CLAIM_NOTES,
  DPOP_PROOF_HEADER_NOTES,
} from './claim-notes';
import { ClaimsTable, JwtCard } from './claims-table';

/**
 * The FAPI 2.0 parts of a sign-in, on /profile and /inspector: the pushed authorization request (RFC 9126) with
 * its client assertion and DPoP proof, and how the tokens are bound to the session's key
 * (RFC 9449): `token_type`, the access token's `cnf`, and every proof sent, decoded.
 */
export function SignInFlow({ flow }: { flow: SignInFlowView }) {
  const { par, dpop } = flow;
  return (
    <>
      {par ? (
        <>
          <h2>The pushed authorization request (PAR, RFC 9126)</h2>
          <p className="muted">
            Before sending your browser to the provider, the app pushed the whole request to{' '}
            <code>{par.endpoint}</code>, authenticated with a client assertion
            {par.attempts.length > 1
              ? ` (${par.attempts.length} requests: the provider asked for a DPoP nonce first, ` +
                'and the retry carried a new assertion)'
              : ''}
            . Your browser carried only this:
          </p>
          <p className="card">
            <code data-testid="par-browser-url">{par.authorization_url}</code>
          </p>
          {Object.keys(par.parameters).length > 0 ? (
            <>
              <h3>Parameters pushed</h3>
              <div className="card">
                <ClaimsTable claims={par.parameters} testId="par-parameters" />
              </div>
            </>
          ) : null}
          {par.attempts.map((attempt, i) => (
            <div key={i} data-testid={`par-attempt-${i + 1}`}>
              <h3>
                Request {i + 1}: HTTP {attempt.status ?? 'no answer'}
              </h3>
              {attempt.client_assertion ? (
                <JwtCard
                  jwt={attempt.client_assertion}
                  headerNotes={ASSERTION_HEADER_NOTES}
                  claimNotes={ASSERTION_CLAIM_NOTES}
                  prefix={`par-assertion-${i + 1}`}
                />
              ) : null}
              {attempt.dpop_proof ? (
                <JwtCard
                  jwt={attempt.dpop_proof}
                  headerNotes={DPOP_PROOF_HEADER_NOTES}
                  claimNotes={DPOP_PROOF_CLAIM_NOTES}
                  prefix={`par-dpop-${i + 1}`}
                />
              ) : null}
            </div>
          ))}
        </>
      ) : null}
      {dpop ? (
        <>
          <h2>Sender-constrained tokens (DPoP, RFC 9449)</h2>
          <p className="muted">
            Your tokens are bound to a key pair this app made for your session; they are worthless
            without it. token_type <code data-testid="dpop-token-type">{dpop.token_type}</code>, key
            thumbprint <code data-testid="dpop-jkt">{dpop.jkt}</code>.
          </p>
          {dpop.cnf ? (
            <div className="card">
              <h3>The access token’s cnf</h3>
              <ClaimsTable claims={dpop.cnf} testId="dpop-cnf" />
            </div>
          ) : (
            <p className="card muted" data-testid="dpop-cnf-opaque">
              The sign-in’s access token is opaque (it is for UserInfo): its binding is checked by
              the provider, which refuses it without a proof of this key.
            </p>
          )}
          {dpop.proofs.map((proof, i) => (
            <div key={i}>
              <h3>
                Proof {i + 1}: {String(proof.payload.htm)} {String(proof.payload.htu)}
              </h3>
              <JwtCard
                jwt={proof}
                headerNotes={DPOP_PROOF_HEADER_NOTES}
                claimNotes={DPOP_PROOF_CLAIM_NOTES}
                prefix={`dpop-proof-${i + 1}`}
              />
            </div>
          ))}
        </>
      ) : null}
    </>
  );
}
