/** One line per access-token claim: what it means to the API (RFC 9068 §2.2). Shown on /machine. */

export const ACCESS_TOKEN_HEADER_NOTES: Record<string, string> = {
  alg:
    'Signed by the provider with its private key; the API verifies it with the ' +
    'provider’s published JWKS. Never none, never HMAC.',
  kid:
    'Which of the provider’s keys signed: the API refetches the JWKS when it sees ' +
    'a kid it does not know (key rotation).',
  typ:
    'at+jwt: explicitly an access token (RFC 9068 §2.1). The API refuses any other ' +
    'type, so an ID token cannot be used in its place.',
};

export const ACCESS_TOKEN_CLAIM_NOTES: Record<string, string> = {
  iss: 'The provider that issued it; the API requires exactly the configured issuer.',
  aud: 'The API’s resource indicator (RFC 8707): the token is for this API and no other. The API checks it.',
  sub: 'Who the token is about: for the client-credentials grant, the client itself (no user).',
  client_id: 'The client the token was issued to.',
  scope: 'What the token allows. The API requires its scope (api1), else 403 insufficient_scope.',
  jti: 'Unique identifier of this token.',
  iat: 'When the provider issued it.',
  exp: 'Expiry: minutes, not hours. The app replaces its cached token shortly before.',
};
