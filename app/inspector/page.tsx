import type { Metadata } from 'next';
import type { ReactNode } from 'react';

import { readForPage, requireSession } from '@/lib/dal';
import {
  listAssertionChecks,
  listAuthorizationResponseChecks,
  listIdTokenChecks,
  listUserInfoChecks,
  type Check,
} from '@/lib/flow-checks';
import type {
  ClientCredentialsFlowRecord,
  RefreshFlowRecord,
  SignInFlowRecord,
  TokenSummary,
} from '@/lib/flow-record';
import { readFlowRecord } from '@/lib/flow-store';
import { getClientKeySet } from '@/lib/keys';

import {
  ASSERTION_CLAIM_NOTES,
  ASSERTION_HEADER_NOTES,
  ID_TOKEN_CLAIM_NOTES,
} from '../_components/claim-notes';
import { ClaimsTable, JwtCard } from '../_components/claims-table';
import { SignInFlow } from '../_components/sign-in-flow';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Flow inspector · private_key_jwt RP' };

const MARK: Record<Check['outcome'], string> = { pass: '✓', fail: '✗', warn: '!', 'n/a': '–' };

function Checks({ checks, testId }: { checks: readonly Check[]; testId: string }) {
  return (
    <table className="checks" data-testid={testId}>
      <tbody>
        {checks.map((c) => (
          <tr key={c.rule} data-outcome={c.outcome}>
            <td className={`outcome ${c.outcome === 'n/a' ? 'na' : c.outcome}`}>
              {MARK[c.outcome]}
            </td>
            <th>
              {c.rule}
              <div className="muted ref">{c.ref}</div>
            </th>
            <td className="value">{c.detail}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Token({
  token,
  prefix,
  notes,
}: {
  token: TokenSummary | undefined;
  prefix: string;
  notes?: Record<string, string>;
}) {
  if (!token) return <p className="muted">none</p>;
  if (token.kind === 'opaque')
    return (
      <p data-testid={`${prefix}-opaque`}>
        Opaque ({token.length} characters, not shown: it is a bearer credential).
      </p>
    );
  return <JwtCard jwt={token.jwt} headerNotes={{}} claimNotes={notes ?? {}} prefix={prefix} />;
}

/**
 * A token request made outside the sign-in (a refresh, a client-credentials grant): its parameters,
 * its client assertion with the checks, the access token received and the API call it served. Test
 * ids are `<prefix>-record`, `-params`, `-assertion`, `-assertion-checks`, `-access-token`.
 */
function GrantRecord({
  record,
  prefix,
  tokenHeading,
  publishedKids,
  children,
}: {
  record: RefreshFlowRecord | ClientCredentialsFlowRecord;
  prefix: string;
  tokenHeading: string;
  publishedKids: readonly string[] | undefined;
  /** What was sent, when and where: said differently for each grant. */
  children: ReactNode;
}) {
  const { request } = record;
  return (
    <div data-testid={`${prefix}-record`}>
      {children}
      <div className="card">
        <ClaimsTable claims={request.params} testId={`${prefix}-params`} />
      </div>
      {request.assertion ? (
        <JwtCard
          jwt={request.assertion}
          headerNotes={ASSERTION_HEADER_NOTES}
          claimNotes={ASSERTION_CLAIM_NOTES}
          prefix={`${prefix}-assertion`}
        />
      ) : null}
      <div className="card">
        <Checks
          checks={listAssertionChecks(request.assertion, record.expect, publishedKids)}
          testId={`${prefix}-assertion-checks`}
        />
      </div>
      <h3>{tokenHeading}</h3>
      <Token token={record.tokenResponse.accessToken} prefix={`${prefix}-access-token`} />
      {record.api ? (
        <p className="muted">
          Then GET {record.api.url}: HTTP {record.api.status} in {record.api.ms} ms.
        </p>
      ) : null}
    </div>
  );
}

type Step = { id: string; label: string; at: number; ms: number; note?: string };

/** The server-side steps of the callback, in ms from its start. */
function listSteps(record: SignInFlowRecord): Step[] {
  const steps: Step[] = [
    {
      id: 'token',
      label: 'Token request (code + client assertion)',
      at: record.token.at,
      ms: record.token.ms,
      note: record.token.status === undefined ? undefined : `HTTP ${record.token.status}`,
    },
    {
      id: 'id-token',
      label: 'ID token validation',
      at: record.idToken.at,
      ms: record.idToken.ms,
    },
  ];
  for (const r of record.requests) {
    if (r.url === record.token.endpoint && r.method === 'POST') continue;
    if (record.userinfo && r.method === 'GET' && r.at >= record.userinfo.at) continue;
    steps.push({
      id: 'request',
      label: `${r.method} ${r.url}`,
      at: r.at,
      ms: r.ms,
      note: r.status === undefined ? 'no answer' : `HTTP ${r.status}`,
    });
  }
  if (record.userinfo)
    steps.push({
      id: 'userinfo',
      label: 'UserInfo',
      at: record.userinfo.at,
      ms: record.userinfo.ms,
    });
  steps.push({
    id: 'session',
    label: 'Session created, record kept',
    at: Math.max(...steps.map((s) => s.at + s.ms)),
    ms: Math.max(0, record.totalMs - Math.max(...steps.map((s) => s.at + s.ms))),
  });
  return steps.sort((a, b) => a.at - b.at);
}

function Timeline({ record }: { record: SignInFlowRecord }) {
  const steps = listSteps(record);
  const total = Math.max(record.totalMs, 1);
  const atProvider = Math.max(0, Math.round((record.callbackAt - record.startedAt) / 1000));
  return (
    <div className="card timeline" data-testid="timeline">
      <div className="row">
        <span className="label">Authorization request → provider (login, consent) → back</span>
        <span className="muted">
          about {atProvider} s in the browser (the sign-in started{' '}
          {new Date(record.startedAt).toISOString()})
        </span>
      </div>
      {record.fapi?.par ? (
        <div className="row" data-step="par" data-testid="step-par">
          <span className="label">
            Pushed authorization request (PAR) → {record.fapi.par.endpoint}
          </span>
          <span className="muted">
            before the browser left: {record.fapi.par.attempts.length} request
            {record.fapi.par.attempts.length > 1 ? 's' : ''}, HTTP{' '}
            {record.fapi.par.attempts.map((a) => a.status ?? 'no answer').join(', ')}
          </span>
        </div>
      ) : null}
      <p className="muted">At the callback, on the server ({record.totalMs} ms in all):</p>
      {steps.map((step, i) => (
        <div className="row" key={`${step.id}-${i}`} data-step={step.id}>
          <span className="label">{step.label}</span>
          {/* SVG attributes, not inline styles: the Content-Security-Policy allows no style attribute. */}
          <svg
            className="bar-track"
            viewBox="0 0 1000 12"
            preserveAspectRatio="none"
            aria-hidden="true"
          >
            <rect
              className="bar"
              x={Math.round((Math.max(0, step.at) / total) * 1000)}
              y={1}
              width={Math.max(4, Math.round((step.ms / total) * 1000))}
              height={10}
            />
          </svg>
          <span className="time" data-testid={`step-${step.id}-ms`}>
            +{step.at} ms · {step.ms} ms{step.note ? ` · ${step.note}` : ''}
          </span>
        </div>
      ))}
    </div>
  );
}

export default async function InspectorPage() {
  const session = await requireSession('/inspector');
  // The records are read from the session store too: 503 when it fails now, never a 500.
  const [record, refresh, machine] = await readForPage('/inspector', () =>
    Promise.all([
      readFlowRecord('sign-in', session.sub),
      readFlowRecord('refresh', session.sub),
      readFlowRecord('client-credentials', session.sub),
    ]),
  );
  let publishedKids: string[] | undefined;
  try {
    publishedKids = (await getClientKeySet()).published.map((k) => k.kid);
  } catch {
    publishedKids = undefined;
  }
  return (
    <>
      <h1>Flow inspector</h1>
      <p className="muted">
        Your last sign-in, step by step, as this app sent and received it: tokens decoded (never
        whole), the code shortened, every check with its result. Kept on the server with your
        session (no cookie carries it), bounded in size, deleted with the session; never logged.
      </p>
      {!record ? (
        <p className="card muted" data-testid="no-record">
          No sign-in recorded for this session (it was made before the inspector kept records with
          the session, or did not fit the bound). Sign out and in again to record one.
        </p>
      ) : (
        <>
          <Timeline record={record} />
          {record.trimmed?.length ? (
            <p className="muted" data-testid="trimmed">
              Left out to stay within the size bound: {record.trimmed.join('; ')}.
            </p>
          ) : null}

          <h2>1. Authorization request</h2>
          <p className="muted">
            {record.fapi?.par ? (
              <>
                Pushed to <code>{record.fapi.par.endpoint}</code> (RFC 9126); the browser went to{' '}
                <code>{record.authorization.endpoint}</code> with client_id and request_uri only.
                The request:
              </>
            ) : (
              <>
                The browser went to <code>{record.authorization.endpoint}</code> with:
              </>
            )}
          </p>
          <div className="card">
            <ClaimsTable claims={record.authorization.params} testId="authorization-params" />
            <p className="muted">
              code_challenge is the S256 hash of a code_verifier that stayed on this server (in the
              sealed transaction cookie) and went only to the token endpoint (RFC 7636).
            </p>
          </div>

          {record.fapi ? <SignInFlow flow={record.fapi} /> : null}

          <h2>2. Authorization response</h2>
          <div className="card">
            <Checks checks={listAuthorizationResponseChecks(record)} testId="response-checks" />
          </div>

          <h2>3. Token request</h2>
          <p className="muted">
            POST {record.token.endpoint} with grant_type=authorization_code, the code, redirect_uri,
            code_verifier, client_id, client_assertion_type and this client assertion, signed just
            before ({record.token.ms} ms, HTTP {record.token.status ?? '?'}):
          </p>
          {record.token.assertion ? (
            <JwtCard
              jwt={record.token.assertion}
              headerNotes={ASSERTION_HEADER_NOTES}
              claimNotes={ASSERTION_CLAIM_NOTES}
              prefix="inspector-assertion"
            />
          ) : null}
          <div className="card">
            <Checks
              checks={listAssertionChecks(record.token.assertion, record.expect, publishedKids)}
              testId="assertion-checks"
            />
          </div>

          <h2>4. Token response</h2>
          <div className="card">
            <ClaimsTable
              claims={{
                token_type: record.tokenResponse.token_type,
                expires_in: record.tokenResponse.expires_in,
                scope: record.tokenResponse.scope,
                members: record.tokenResponse.members.join(', '),
                refresh_token:
                  record.tokenResponse.refreshToken === undefined
                    ? 'none'
                    : `${record.tokenResponse.refreshToken} characters, not shown`,
              }}
              testId="token-response"
            />
          </div>
          <h3>ID token</h3>
          <Token
            token={record.tokenResponse.idToken}
            prefix="inspector-id-token"
            notes={ID_TOKEN_CLAIM_NOTES}
          />
          <h3>Access token</h3>
          <Token token={record.tokenResponse.accessToken} prefix="inspector-access-token" />

          <h2>5. ID token validation (OpenID Connect Core §3.1.3.7)</h2>
          <p className="muted">{record.idToken.ms} ms, on this server.</p>
          <div className="card">
            <Checks checks={listIdTokenChecks(record)} testId="id-token-checks" />
          </div>

          <h2>6. UserInfo</h2>
          <div className="card">
            <Checks checks={listUserInfoChecks(record)} testId="userinfo-checks" />
            {record.userinfo ? (
              <ClaimsTable claims={record.userinfo.claims} testId="inspector-userinfo" />
            ) : null}
          </div>
        </>
      )}

      <h2>Refresh</h2>
      {!refresh ? (
        <p className="card muted" data-testid="no-refresh-record">
          No refresh recorded yet: the first call of the API as you (the button on{' '}
          <a href="/profile">Profile</a>) gets its token with the refresh grant, and so does any
          call once the token is about to expire.
        </p>
      ) : (
        <GrantRecord
          record={refresh}
          prefix="refresh"
          tokenHeading="Access token for the API"
          publishedKids={publishedKids}
        >
          <p className="muted">
            {new Date(refresh.startedAt).toISOString()}: POST {refresh.request.endpoint} with (the
            API’s token for you, down-scoped with <code>resource</code>, RFC 8707):
          </p>
        </GrantRecord>
      )}

      <h2>Client credentials</h2>
      {!machine ? (
        <p className="card muted" data-testid="no-machine-record">
          No client-credentials token request recorded yet: run one on{' '}
          <a href="/machine">Machine to machine</a> while signed in.
        </p>
      ) : (
        <GrantRecord
          record={machine}
          prefix="machine"
          tokenHeading="Access token"
          publishedKids={publishedKids}
        >
          <p className="muted" data-testid="machine-source" data-source={machine.source}>
            {machine.source === 'token_endpoint'
              ? 'The last call on Machine to machine requested a new token'
              : 'The last call on Machine to machine used a cached token, obtained'}{' '}
            at {new Date(machine.startedAt).toISOString()}: POST {machine.request.endpoint} (
            {machine.request.ms ?? '?'} ms, HTTP {machine.request.status ?? '?'}) with:
          </p>
        </GrantRecord>
      )}
    </>
  );
}
