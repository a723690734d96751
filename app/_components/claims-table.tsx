/** Tables of JWT members and claims, one row each, with a note on what the value proves. */

import { formatInstant } from '@/lib/time-display';

const TIME_CLAIMS = new Set(['exp', 'iat', 'nbf', 'auth_time', 'updated_at']);

function display(name: string, value: unknown): string {
  if (TIME_CLAIMS.has(name) && typeof value === 'number')
    return `${value} (${formatInstant(value * 1000)})`;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The note for a member name. The names are the provider's, and a JWT decoded with JSON.parse can
 * have any, `__proto__` included: only the notes' own members count, never what a plain object
 * inherits (`notes.__proto__` is Object.prototype, which React refuses to render: a 500).
 */
function noteFor(notes: Record<string, string>, name: string): string {
  return Object.hasOwn(notes, name) ? (notes[name] ?? '') : '';
}

export function ClaimsTable({
  claims,
  notes,
  testId,
}: {
  claims: Record<string, unknown>;
  notes?: Record<string, string>;
  testId: string;
}) {
  return (
    <table className="claims" data-testid={testId}>
      <tbody>
        {Object.entries(claims).map(([name, value]) => (
          <tr key={name} data-claim={name}>
            <th>{name}</th>
            <td className="value">{display(name, value)}</td>
            {notes ? <td className="muted">{noteFor(notes, name)}</td> : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A decoded JWT: its header, then its payload. Test ids are `<prefix>-header` / `<prefix>-payload`. */
export function JwtCard({
  jwt,
  headerNotes,
  claimNotes,
  prefix,
}: {
  jwt: { header: Record<string, unknown>; payload: Record<string, unknown> };
  headerNotes: Record<string, string>;
  claimNotes: Record<string, string>;
  prefix: string;
}) {
  return (
    <div className="card">
      <h3>Header</h3>
      <ClaimsTable claims={jwt.header} notes={headerNotes} testId={`${prefix}-header`} />
      <h3>Payload</h3>
      <ClaimsTable claims={jwt.payload} notes={claimNotes} testId={`${prefix}-payload`} />
    </div>
  );
}
