import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { findAudienceProblem } from './id-token';

const CLIENT = 'client_using_jwt';

describe('findAudienceProblem (OIDC Core §3.1.3.7 rules 3 to 5)', () => {
  it('accepts aud = client_id, as a string or a one-element array, with or without a matching azp', () => {
    assert.equal(findAudienceProblem({ aud: CLIENT }, CLIENT), undefined);
    assert.equal(findAudienceProblem({ aud: [CLIENT] }, CLIENT), undefined);
    assert.equal(findAudienceProblem({ aud: CLIENT, azp: CLIENT }, CLIENT), undefined);
    assert.equal(findAudienceProblem({ aud: [CLIENT], azp: CLIENT }, CLIENT), undefined);
  });

  it('refuses an aud that does not list this client', () => {
    assert.match(
      findAudienceProblem({ aud: 'someone-else' }, CLIENT) ?? '',
      /does not list this client/,
    );
    assert.match(findAudienceProblem({}, CLIENT) ?? '', /does not list this client/);
    assert.match(findAudienceProblem({ aud: [] }, CLIENT) ?? '', /does not list this client/);
  });

  it('refuses audiences it does not trust next to its own, azp or not', () => {
    assert.match(
      findAudienceProblem({ aud: [CLIENT, 'other'] }, CLIENT) ?? '',
      /does not trust: \["other"\]/,
    );
    assert.match(
      findAudienceProblem({ aud: [CLIENT, 'other'], azp: CLIENT }, CLIENT) ?? '',
      /does not trust/,
    );
  });

  it('refuses an azp that names another client', () => {
    assert.match(
      findAudienceProblem({ aud: CLIENT, azp: 'other' }, CLIENT) ?? '',
      /azp "other" is not this client/,
    );
  });

  it('keeps provider-controlled values short in its message', () => {
    const problem = findAudienceProblem({ aud: [CLIENT, 'x'.repeat(1000)] }, CLIENT) ?? '';
    assert.ok(problem.length < 200);
  });
});
