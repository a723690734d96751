import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AuthError } from './errors';

describe('AuthError', () => {
  it('keeps a provider’s error texts on one line, without control characters', () => {
    const err = new AuthError('token_request_failed', {
      error: 'invalid_client\u001b[2J',
      error_description: 'AADSTS700027: bad assertion.\r\nTrace ID: 1\r\nCorrelation ID: 2\u009b',
      detail: 'answer 401\nforged',
    });
    for (const text of [err.error, err.error_description, err.detail, err.message])
      assert.doesNotMatch(text ?? '', /[\u0000-\u001f\u007f-\u009f]/);
    assert.equal(
      err.error_description,
      'AADSTS700027: bad assertion. Trace ID: 1 Correlation ID: 2 ',
    );
    assert.equal(err.message, 'token_request_failed: invalid_client [2J: answer 401 forged');
  });

  it('takes the Unicode line and paragraph separators for line ends too', () => {
    const err = new AuthError('token_request_failed', {
      error: 'invalid_client\u2028forged',
      error_description: 'a\u2029b',
      detail: 'c\u2028d',
    });
    assert.equal(err.error, 'invalid_client forged');
    assert.equal(err.error_description, 'a b');
    assert.equal(err.message, 'token_request_failed: invalid_client forged: c d');
  });
});
