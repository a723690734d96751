/** One line per claim: what it proves. Shown next to the values on /profile. */

export const ASSERTION_HEADER_NOTES: Record<string, string> = {
  alg:
    'Signature algorithm. The provider verifies the signature with this client’s ' +
    'registered public key; no shared secret exists.',
  kid:
    'Which of the client’s published keys signed (its RFC 7638 thumbprint unless ' +
    'the key file names it). Lets the provider pick the key, and lets keys rotate.',
  typ:
    'client-authentication+jwt: explicitly typed (RFC 10070), so this JWT cannot be mistaken for, ' +
    'or replayed as, another kind of token. Sent with the issuer audience (the rule the type promises).',
  'x5t#S256':
    'SHA-256 thumbprint of the client’s X.509 certificate, for providers that register certificates.',
  x5t:
    'SHA-1 thumbprint of the client’s X.509 certificate, sent only when ' +
    'OIDC_CLIENT_ASSERTION_X5T_SHA1=true (AD FS still reads it).',
};

export const ASSERTION_CLAIM_NOTES: Record<string, string> = {
  iss: 'Issuer = the client_id: the client itself makes this statement (RFC 7523 §3).',
  sub: 'Subject = the client_id: the party being authenticated is this client (RFC 7523 §3).',
  aud:
    'Audience = the provider’s issuer identifier, one string: worthless at any ' +
    'other server, including one that claims this provider’s token endpoint (RFC ' +
    '10070). The token endpoint URL only when OIDC_CLIENT_ASSERTION_AUDIENCE says ' +
    'so, for legacy providers.',
  iat: 'Issued at: signed moments before the token request.',
  nbf: 'Not before: not valid earlier than its signing time.',
  exp: 'Expires: valid for seconds only, so a leaked assertion soon becomes useless.',
  jti: 'Unique identifier (256 random bits): the provider remembers it and refuses a replay.',
};

export const ID_TOKEN_CLAIM_NOTES: Record<string, string> = {
  iss: 'The provider that issued the token; checked against the configured issuer.',
  sub: 'Your stable identifier at that provider.',
  aud: 'Must contain this app’s client_id: the token was issued for this app.',
  azp: 'Authorized party: the client the token was issued to (checked when aud has several values).',
  exp: 'Expiry; checked when the token arrived.',
  iat: 'When the provider issued the token.',
  auth_time: 'When you last authenticated at the provider.',
  nonce:
    'Echo of the random value this browser’s sign-in sent: binds the token to this sign-in (replay protection).',
  at_hash: 'Hash of the access token issued alongside: binds the two.',
  sid: 'Your session at the provider (used for logout).',
  acr: 'Authentication context class: how strongly you were authenticated.',
  amr: 'Authentication methods used.',
};

export const DPOP_PROOF_HEADER_NOTES: Record<string, string> = {
  typ: 'dpop+jwt: explicitly a DPoP proof (RFC 9449 §4.2), never mistaken for another JWT.',
  alg: 'Signed by the session’s own key pair (ES256 or EdDSA), made at sign-in start.',
  jwk: 'The public key: its RFC 7638 thumbprint is the cnf.jkt the tokens are bound to. Never a private member.',
};

export const DPOP_PROOF_CLAIM_NOTES: Record<string, string> = {
  jti: 'Unique per proof: the server refuses a replayed proof.',
  htm: 'The HTTP method of the one request this proof is for.',
  htu: 'The URL (without query and fragment) of the one request this proof is for.',
  iat: 'Signed moments before the request: servers accept proofs only within a short window.',
  ath: 'SHA-256 of the access token sent with it: the proof is for that token only.',
  nonce: 'The value the server asked for (use_dpop_nonce): bounds how long a proof can be used.',
};
