import { randomBytes } from 'node:crypto';

import { sealData, unsealData } from 'iron-session';
import { generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';

import { summarize, type Summary } from './measure';

/**
 * The crypto of one sign-in, measured in this process with nothing else around it: the RS256
 * client assertion, the RS256 ID-token signature check, and sealing the session (iron-session:
 * PBKDF2 key derivation, AES-256-CBC, HMAC-SHA-256); and an unseal (what reading a session costs).
 * No relying party doing this protocol work can sign someone in for less.
 */

export type CryptoFloor = {
  readonly assertionSign: Summary;
  readonly idTokenVerify: Summary;
  readonly seal: Summary;
  readonly unseal: Summary;
  /** One assertion + one ID-token check + one seal, p50 ms (the definition). */
  readonly signInMs: number;
};

async function time(count: number, fn: () => Promise<unknown>): Promise<Summary> {
  for (let i = 0; i < Math.min(20, count); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return summarize(samples);
}

export async function measureCryptoFloor(clientJwk: JWK, iterations: number): Promise<CryptoFloor> {
  const clientKey = await importJWK(clientJwk, 'RS256');
  const provider = await generateKeyPair('RS256', { modulusLength: 2048 });
  const issuer = 'http://localhost:4000';
  const idToken = await new SignJWT({
    sub: 'alice',
    nonce: randomBytes(32).toString('base64url'),
    auth_time: Math.floor(Date.now() / 1000),
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'op-key' })
    .setIssuer(issuer)
    .setAudience('bench_app')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(provider.privateKey);
  const password = randomBytes(32).toString('base64url');
  const session = {
    sub: 'alice',
    id_token: idToken,
    userinfo: { sub: 'alice', name: 'Alice Liddell', email: 'alice@example.com' },
    signed_in_at: Math.floor(Date.now() / 1000),
  };
  const sealed = await sealData(session, { password });

  const assertionSign = await time(iterations, () =>
    new SignJWT({ jti: randomBytes(32).toString('base64url') })
      .setProtectedHeader({ alg: 'RS256', kid: clientJwk.kid, typ: 'client-authentication+jwt' })
      .setIssuer('bench_app')
      .setSubject('bench_app')
      .setAudience(issuer)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime('60s')
      .sign(clientKey),
  );
  const idTokenVerify = await time(iterations, () =>
    jwtVerify(idToken, provider.publicKey, { algorithms: ['RS256'], issuer }),
  );
  const seal = await time(iterations, () => sealData(session, { password }));
  const unseal = await time(iterations, () => unsealData(sealed, { password }));
  return {
    assertionSign,
    idTokenVerify,
    seal,
    unseal,
    signInMs: assertionSign.p50 + idTokenVerify.p50 + seal.p50,
  };
}
