import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { describeApiResourceServer, apiResourceSettingsFromEnv } from './api-resource';

describe('bundled provider API settings', () => {
  it('defaults to APP_URL/api, scope api1, 300 s JWT access tokens (as the app does)', () => {
    const api = apiResourceSettingsFromEnv({}, 'http://localhost:3000');
    assert.deepEqual(api, {
      resource: 'http://localhost:3000/api',
      scope: 'api1',
      accessTokenTtlSeconds: 300,
    });
    assert.deepEqual(describeApiResourceServer(api), {
      scope: 'api1',
      audience: 'http://localhost:3000/api',
      accessTokenTTL: 300,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    });
  });

  it('reads API_RESOURCE, API_SCOPE and PROVIDER_API_TOKEN_TTL, and names the one at fault', () => {
    const api = apiResourceSettingsFromEnv(
      { API_RESOURCE: 'urn:example:api', API_SCOPE: 'orders:read', PROVIDER_API_TOKEN_TTL: '60' },
      'http://localhost:3000',
    );
    assert.deepEqual(api, {
      resource: 'urn:example:api',
      scope: 'orders:read',
      accessTokenTtlSeconds: 60,
    });
    assert.throws(
      () =>
        apiResourceSettingsFromEnv(
          { API_RESOURCE: 'https://api.example/#x' },
          'http://localhost:3000',
        ),
      /API_RESOURCE/,
    );
    assert.throws(
      () => apiResourceSettingsFromEnv({ API_RESOURCE: 'relative/path' }, 'http://localhost:3000'),
      /API_RESOURCE/,
    );
    assert.throws(
      () => apiResourceSettingsFromEnv({ API_SCOPE: 'api1 api2' }, 'http://localhost:3000'),
      /API_SCOPE/,
    );
    assert.throws(
      () =>
        apiResourceSettingsFromEnv({ PROVIDER_API_TOKEN_TTL: '86400' }, 'http://localhost:3000'),
      /PROVIDER_API_TOKEN_TTL/,
    );
    assert.throws(
      () => apiResourceSettingsFromEnv({ PROVIDER_API_TOKEN_TTL: '5.5' }, 'http://localhost:3000'),
      /PROVIDER_API_TOKEN_TTL/,
    );
  });
});
