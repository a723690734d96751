import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import type * as client from 'openid-client';

import { parseConfig } from './config';
import { captureRefresh, captureSignIn, type SignInCapture } from './flow-capture';
import {
  listAssertionChecks,
  listAuthorizationResponseChecks,
  listIdTokenChecks,
  listUserInfoChecks,
} from './flow-checks';
import { fitFlowRecord, MAX_FLOW_RECORD_LENGTH, type SignInFlowRecord } from './flow-record';
import { viewJwt } from './jwt-view';
import type { SignInResult } from './sign-in';
import type { UserApiCallOutcome } from './user-api-call';

/**
 * The flow inspector's record: built from a sign-in's facts, checks computed from it (and failing
 * when the facts are wrong), no secret and no whole token in it, and bounded in size.
 */

const ISSUER = 'https://idp.example.com';
const CLIENT_ID = 'client_using_jwt';
const PASSWORD = 'p'.repeat(32);
const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const keyFile = join(mkdtempSync(join(tmpdir(), 'rp-flow-')), 'client.pem');
writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem' }));
const settings = parseConfig({
  OIDC_ISSUER: ISSUER,
  APP_URL: 'https://app.example.com',
  SESSION_SECRET: PASSWORD,
  OIDC_CLIENT_KEY_FILE: keyFile,
});
const metadata: client.ServerMetadata = {
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  authorization_response_iss_parameter_supported: true,
  token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256'],
};

function sign(header: Record<string, unknown>, payload: JWTPayload): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', ...header }).sign(key);
}

type Overrides = {
  idToken?: JWTPayload;
  assertion?: JWTPayload;
  assertionHeader?: Record<string, unknown>;
  callback?: Record<string, string>;
  userinfo?: Record<string, unknown>;
  /** A FAPI 2.0 sign-in: PAR (a nonce retry), DPoP proofs, a DPoP-bound JWT access token. */
  fapi?: boolean;
};

/** What a FAPI 2.0 sign-in adds to its result: PAR, four proofs (two nonce retries), the binding. */
async function addFapi(
  result: SignInResult,
  assertion: () => Promise<string>,
): Promise<SignInResult> {
  const pair = await generateKeyPair('ES256');
  const jwk = await exportJWK(pair.publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  const proof = (htm: string, htu: string, nonce?: string) =>
    new SignJWT({ jti: randomBytes(16).toString('base64url'), htm, htu, ...(nonce && { nonce }) })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
      .setIssuedAt()
      .sign(pair.privateKey);
  const nonce = randomBytes(32).toString('base64url');
  const accessToken = await sign(
    { kid: 'op-key', typ: 'at+jwt' },
    { iss: ISSUER, sub: 'alice', aud: ISSUER, client_id: CLIENT_ID, cnf: { jkt }, jti: 'at-1' },
  );
  const requestUri = `urn:ietf:params:oauth:request_uri:${randomBytes(16).toString('base64url')}`;
  return {
    ...result,
    par: {
      endpoint: `${ISSUER}/par`,
      parameters: { response_type: 'code', scope: 'openid email', code_challenge_method: 'S256' },
      attempts: [
        {
          status: 400,
          client_assertion: viewJwt(await assertion()),
          dpop_proof: viewJwt(await proof('POST', `${ISSUER}/par`)),
        },
        {
          status: 201,
          client_assertion: viewJwt(await assertion()),
          dpop_proof: viewJwt(await proof('POST', `${ISSUER}/par`, nonce)),
        },
      ],
      request_uri: requestUri,
      authorization_url: `${ISSUER}/authorize?client_id=${CLIENT_ID}&request_uri=${requestUri}`,
    },
    dpop: {
      key: jwk,
      jkt,
      binding: { token_type: 'dpop', cnf: { jkt }, format: 'jwt' },
      proofs: [
        await proof('POST', `${ISSUER}/token`),
        await proof('POST', `${ISSUER}/token`, nonce),
        await proof('GET', `${ISSUER}/me`, nonce),
      ],
    },
    tokens: {
      ...result.tokens,
      access_token: accessToken,
      token_type: 'dpop',
    } as client.TokenEndpointResponse,
  };
}

async function capture(
  overrides: Overrides = {},
): Promise<{ record: SignInFlowRecord; input: SignInCapture }> {
  const now = Math.floor(Date.now() / 1000);
  const nonce = randomBytes(32).toString('base64url');
  const state = randomBytes(32).toString('base64url');
  const accessToken = randomBytes(32).toString('base64url');
  const code = randomBytes(32).toString('base64url');
  const atHash = createHash('sha256')
    .update(accessToken)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
  const claims = {
    iss: ISSUER,
    sub: 'alice',
    aud: CLIENT_ID,
    exp: now + 600,
    iat: now,
    nonce,
    at_hash: atHash,
    ...overrides.idToken,
  };
  const idToken = await sign({ kid: 'op-key', typ: 'JWT' }, claims);
  const clientAssertion = await sign(
    { kid: 'client-key', typ: 'client-authentication+jwt', ...overrides.assertionHeader },
    {
      iss: CLIENT_ID,
      sub: CLIENT_ID,
      aud: ISSUER,
      iat: now,
      nbf: now,
      exp: now + 60,
      jti: randomBytes(32).toString('base64url'),
      ...overrides.assertion,
    },
  );
  const started = performance.now();
  const plain: SignInResult = {
    id_token: idToken,
    claims: claims as client.IDToken,
    userinfo: { sub: 'alice', email: 'alice@example.com', ...overrides.userinfo },
    refresh_token: 'r'.repeat(40),
    access_token: {
      access_token: accessToken,
      token_type: 'bearer',
      expires_at: Date.now() + 600_000,
      scope: 'openid email',
    },
    clientAssertion,
    trace: {
      requests: [
        { method: 'POST', url: `${ISSUER}/token`, status: 200, ms: 12, start: started + 1 },
        { method: 'GET', url: `${ISSUER}/me`, status: 200, ms: 4, start: started + 16 },
      ],
      clientAssertions: [clientAssertion],
      jwtResponses: [],
      dpopProofs: [],
    },
    tokens: {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: 600,
      id_token: idToken,
      refresh_token: 'r'.repeat(40),
      scope: 'openid email',
    } as client.TokenEndpointResponse,
    timing: { started, tokens: started + 14, idToken: started + 15, userinfo: started + 20 },
  };
  const result = overrides.fapi
    ? await addFapi(plain, () =>
        sign(
          { kid: 'client-key', typ: 'client-authentication+jwt' },
          {
            iss: CLIENT_ID,
            sub: CLIENT_ID,
            aud: ISSUER,
            iat: now,
            exp: now + 60,
            jti: randomBytes(32).toString('base64url'),
          },
        ),
      )
    : plain;
  const input: SignInCapture = {
    transaction: { state, nonce, created_at: now - 5 },
    authorizationParams: {
      redirect_uri: settings.redirectUri,
      scope: settings.scopes,
      response_type: 'code',
      code_challenge: 'c'.repeat(43),
      code_challenge_method: 'S256',
      state,
      nonce,
    },
    callbackParams: new URLSearchParams({ code, state, iss: ISSUER, ...overrides.callback }),
    result,
    settings,
    metadata,
    callbackStart: started,
    callbackAt: Date.now(),
  };
  return { record: captureSignIn(input), input };
}

const outcomes = (checks: readonly { outcome: string }[]) => new Set(checks.map((c) => c.outcome));

describe('the flow inspector record', () => {
  it('keeps the steps with timings, the code shortened, and no whole token or secret', async () => {
    const { record, input } = await capture();
    assert.equal(record.sub, 'alice');
    assert.equal(record.authorization.params.client_id, CLIENT_ID);
    assert.equal(record.authorization.params.code_challenge_method, 'S256');
    const code = input.callbackParams.get('code') ?? '';
    assert.equal(record.response.code, `${code.slice(0, 6)}…`);
    assert.equal(record.response.codeLength, code.length);
    assert.equal(record.token.at, 1);
    assert.equal(record.token.ms, 12);
    assert.equal(record.token.status, 200);
    assert.equal(record.idToken.ms, 1);
    assert.equal(record.userinfo?.ms, 5);
    assert.equal(record.tokenResponse.refreshToken, 40);
    assert.equal(record.tokenResponse.accessToken?.kind, 'opaque');
    const json = JSON.stringify(record);
    assert.ok(!json.includes(code), 'the code is shortened');
    assert.ok(!json.includes(input.result.tokens?.access_token ?? '-'), 'no access token');
    assert.ok(!json.includes('r'.repeat(40)), 'no refresh token');
    assert.doesNotMatch(json, /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/, 'no compact JWT');
  });

  it('every check passes (or does not apply) for a correct sign-in', async () => {
    const { record } = await capture();
    for (const checks of [
      listAuthorizationResponseChecks(record),
      listAssertionChecks(record.token.assertion, record.expect, ['client-key']),
      listIdTokenChecks(record),
      listUserInfoChecks(record),
    ]) {
      assert.ok(
        !outcomes(checks).has('fail'),
        JSON.stringify(checks.filter((c) => c.outcome === 'fail')),
      );
    }
    const idChecks = listIdTokenChecks(record);
    assert.equal(idChecks.length, 14, 'items 1–13 of §3.1.3.7 and at_hash');
    assert.equal(idChecks.find((c) => c.ref === 'OIDC Core §3.1.3.8')?.outcome, 'pass');
  });

  it('the checks fail when the facts are wrong', async () => {
    const { record } = await capture({
      idToken: { iss: 'https://evil.example', aud: [CLIENT_ID, 'other'], at_hash: 'AAAA' },
      assertion: {
        sub: 'someone',
        aud: `${ISSUER}/token`,
        exp: Math.floor(Date.now() / 1000) + 3600,
        jti: 'short',
      },
      assertionHeader: { typ: undefined },
      callback: { iss: 'https://evil.example' },
      userinfo: { sub: 'bob' },
    });
    const failed = (checks: readonly { outcome: string; rule: string }[]) =>
      checks.filter((c) => c.outcome === 'fail').map((c) => c.rule);
    assert.deepEqual(failed(listAuthorizationResponseChecks(record)), [
      'iss is the issuer (mix-up defence)',
    ]);
    assert.deepEqual(failed(listAssertionChecks(record.token.assertion, record.expect, ['x'])), [
      'iss = sub = client_id',
      'aud is the issuer identifier, one string',
      'short-lived: exp − iat',
      'unique jti',
      'explicitly typed',
    ]);
    assert.equal(
      listAssertionChecks(record.token.assertion, record.expect, ['x']).find((c) =>
        c.rule.startsWith('kid'),
      )?.outcome,
      'warn',
      'a kid no longer published',
    );
    assert.deepEqual(failed(listIdTokenChecks(record)), [
      'iss is exactly the issuer',
      'aud contains the client_id, no untrusted audience',
      'several audiences: azp present',
      'at_hash matches the access token',
    ]);
    assert.deepEqual(failed(listUserInfoChecks(record)), ['sub is the ID token’s sub']);
  });

  it('shows an auth_time no date can hold, rather than throw while the page renders', async () => {
    // NumericDate is any JSON number (RFC 7519 §2); a Date holds ±8.64e15 ms.
    const { record } = await capture({ idToken: { auth_time: 1e20 } });
    const check = listIdTokenChecks(record).find((c) => c.rule.startsWith('auth_time'));
    assert.match(check?.detail ?? '', /authenticated at not a representable date/);
  });

  it('is bounded in size: a large UserInfo is trimmed, and said so', async () => {
    const { record } = await capture({
      userinfo: { groups: Array.from({ length: 2000 }, (_, i) => `group-${i}`) },
    });
    assert.ok(JSON.stringify(record).length > MAX_FLOW_RECORD_LENGTH);
    const small = fitFlowRecord(record);
    assert.ok(small);
    assert.ok(small.json.length <= MAX_FLOW_RECORD_LENGTH);
    assert.ok(small.record.trimmed?.[0]?.startsWith('UserInfo values'));
    const kept = JSON.parse(small.json) as SignInFlowRecord;
    assert.equal(small.json, JSON.stringify(small.record));
    assert.equal(kept.userinfo?.claims.groups, '…');
    assert.equal(kept.token.assertion?.payload.iss, CLIENT_ID);

    const { record: usual } = await capture();
    const fitted = fitFlowRecord(usual);
    assert.equal(fitted?.record.trimmed, undefined, 'a usual sign-in fits whole');
    assert.ok(fitted && fitted.json.length < 6000, `a usual sign-in takes ${fitted?.json.length}`);
  });

  it('bounds the bytes, not the characters: a UserInfo in another script is trimmed too', async () => {
    // 4,000 characters of CJK: 12,000 bytes in UTF-8, fewer than the bound in characters.
    const { record } = await capture({ userinfo: { name: '名'.repeat(4000) } });
    assert.ok(JSON.stringify(record).length < MAX_FLOW_RECORD_LENGTH, 'few characters');
    const fitted = fitFlowRecord(record);
    assert.ok(fitted);
    assert.ok(Buffer.byteLength(fitted.json) <= MAX_FLOW_RECORD_LENGTH);
    assert.ok(fitted.record.trimmed?.[0]?.startsWith('UserInfo values'));
  });

  it('leaves UserInfo values in when hiding them would take more bytes, not fewer', async () => {
    // Two-letter values: "…" is one character fewer than "ab", but one byte more (UTF-8).
    const userinfo = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`c${i}`, 'ab']));
    const { record } = await capture({ userinfo, idToken: { extra: 'x'.repeat(13_000) } });
    const fitted = fitFlowRecord(record);
    assert.ok(fitted);
    assert.equal(fitted.record.kind, 'sign-in');
    assert.deepEqual(fitted.record.trimmed, ['ID token claims not checked']);
    assert.equal(fitted.record.kind === 'sign-in' && fitted.record.userinfo?.claims.c0, 'ab');
  });

  it('keeps nothing when not even the smallest version fits', async () => {
    const { record } = await capture();
    assert.equal(fitFlowRecord(record, 200), undefined);
  });
});

/** About what one sealed cookie held (the inspector's records once lived in cookies). */
const TIGHT_BOUND = 2700;

describe('the flow inspector record of a FAPI 2.0 sign-in', () => {
  it('carries the PAR request, the decoded DPoP proofs and the token’s cnf, within the bound', async () => {
    const { record, input } = await capture({ fapi: true });
    const jkt = input.result.dpop?.jkt;
    assert.ok(jkt);
    assert.equal(record.fapi?.par?.endpoint, `${ISSUER}/par`);
    assert.deepEqual(
      record.fapi.par.attempts.map((a) => a.status),
      [400, 201],
    );
    assert.deepEqual(record.fapi.dpop?.cnf, { jkt });
    assert.equal(record.fapi.dpop.proofs.length, 3);
    assert.equal(record.fapi.dpop.proofs[0]?.header.typ, 'dpop+jwt');
    assert.equal(record.fapi.dpop.proofs[0]?.payload.htm, 'POST');
    assert.equal(record.fapi.dpop.proofs[0]?.payload.htu, `${ISSUER}/token`);
    assert.ok(!JSON.stringify(record).includes('"d":'), 'no private key member');
    assert.ok(
      !JSON.stringify(record).includes(input.result.dpop?.proofs[0] ?? '?'),
      'no proof whole',
    );

    assert.equal(fitFlowRecord(record)?.record.trimmed, undefined, 'it fits whole');
    // Under a bound as tight as one cookie's, what matters is kept.
    const tight = fitFlowRecord(record, TIGHT_BOUND);
    assert.ok(tight, 'a FAPI 2.0 sign-in fits (trimmed)');
    assert.ok(tight.json.length <= TIGHT_BOUND);
    const opened = JSON.parse(tight.json) as SignInFlowRecord;
    // What the page must still show: the PAR step, a decoded proof, the binding.
    const { par, dpop } = opened.fapi ?? {};
    assert.ok(par && dpop, 'the PAR step and the DPoP binding are kept');
    assert.equal(par.authorization_url, input.result.par?.authorization_url);
    assert.equal(par.attempts.at(-1)?.status, 201);
    assert.deepEqual(dpop.cnf, { jkt });
    assert.equal(dpop.jkt, jkt);
    const proof = dpop.proofs[0];
    assert.equal(proof?.header.typ, 'dpop+jwt');
    assert.equal(proof.payload.htm, 'POST');
    assert.equal(proof.payload.htu, `${ISSUER}/token`);
    assert.equal(opened.token.assertion?.payload.iss, CLIENT_ID);
    assert.ok(opened.trimmed?.length, 'what was left out is said');

    const { record: plain } = await capture();
    assert.equal(plain.fapi, undefined, 'a plain sign-in has no FAPI part');
  });

  it('trims the FAPI parts too when the rest is large, and still fits', async () => {
    const { record } = await capture({
      fapi: true,
      userinfo: { groups: Array.from({ length: 300 }, (_, i) => `group-${i}`) },
    });
    const fitted = fitFlowRecord(record, TIGHT_BOUND);
    assert.ok(fitted);
    assert.ok(fitted.json.length <= TIGHT_BOUND);
    const kept = fitted.record as SignInFlowRecord;
    assert.equal(kept.fapi?.dpop?.proofs[0]?.header.typ, 'dpop+jwt');
    assert.ok(kept.fapi.dpop.cnf);
  });
});

describe('the flow inspector record of a refresh', () => {
  it('is made only when the call refreshed, with the assertion that authenticated the grant', async () => {
    const { record } = await capture();
    const assertion = record.token.assertion;
    const outcome = (source: 'refreshed' | 'store'): UserApiCallOutcome => ({
      ok: true,
      request: { method: 'GET', url: 'https://app.example.com/api/messages' },
      token: {
        source,
        expiresAt: Date.now() + 60_000,
        scope: 'api1',
        accessToken: { header: { typ: 'at+jwt' }, payload: { aud: 'https://app.example.com/api' } },
        refreshAssertion: source === 'refreshed' ? assertion : undefined,
        tokenType: 'bearer',
        refreshProofs: [],
      },
      api: {
        url: 'https://app.example.com/api/messages',
        status: 200,
        wwwAuthenticate: null,
        tokenRefused: false,
        body: {},
        ms: 3,
      },
      retriedWithNewToken: false,
    });
    assert.equal(captureRefresh(outcome('store'), 'alice', settings, metadata), undefined);
    const refresh = captureRefresh(outcome('refreshed'), 'alice', settings, metadata);
    assert.equal(refresh?.kind, 'refresh');
    assert.equal(refresh?.request.params.grant_type, 'refresh_token');
    assert.equal(refresh?.request.params.resource, settings.api.resource);
    assert.deepEqual(refresh?.request.assertion, assertion);
    assert.ok(!JSON.stringify(refresh).match(/eyJ[\w-]+\.eyJ/), 'no compact token');
    const fitted = fitFlowRecord(refresh!);
    assert.ok(fitted && fitted.json.length <= MAX_FLOW_RECORD_LENGTH);
    assert.equal(fitted.record.trimmed, undefined);
  });
});
