import { createPublicKey, randomBytes, type JsonWebKey } from 'node:crypto';

import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import type * as client from 'openid-client';

import { CLIENT_ASSERTION_TYP, resolveAudience, selectAssertionAlg } from './client-assertion';
import type { AppConfig } from './config';
import { discoveredIssuerMismatch } from './discovery';
import { ConfigError, oneLine } from './errors';
import type { JwtView } from './jwt-view';
import { loadClientKeySet, type ClientKey } from './keys';
import { describeError } from './log';
import type { TokenEndpointAnswer } from './token-endpoint-answer';
import {
  discoverForProbes,
  sendAssertionAsIs,
  sendTokenProbe,
  type ProbeGrant,
  type ProbeResult,
  type ProbeTarget,
} from './token-endpoint-probe';

/**
 * `npm run provider-check`: does a provider verify client assertions safely? It sends the valid
 * assertion and then deliberately bad ones to the token endpoint — the cases the bundled
 * provider's own rejection suite covers — and reports for each whether the provider refused it
 * (PASS) or accepted it (FAIL). The bad assertions are built and signed with jose; signing them
 * wrongly on purpose is the point.
 *
 * Each request redeems a made-up authorization code (or, with `grant: 'client_credentials'`, asks
 * for a token): a provider authenticates the client first, so `invalid_grant` (or a token) means
 * the assertion was accepted, and any 400/401/403 otherwise that it was refused. The valid
 * assertion must be accepted, or nothing else can be judged.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3 (what the server must check)
 * @see https://www.rfc-editor.org/rfc/rfc10070 (audience, explicit typing)
 * @see https://www.rfc-editor.org/rfc/rfc8725 (JWT best current practices)
 */

export type CheckStatus = 'PASS' | 'FAIL' | 'SKIP';

export type CaseResult = {
  readonly id: string;
  readonly title: string;
  /** What the provider must do, and the specification that says so. */
  readonly rule: string;
  readonly status: CheckStatus;
  /** Why it was skipped, or a note on how it was refused. */
  readonly reason?: string | undefined;
  readonly sent?: JwtView | undefined;
  /** Body parameter names (a `client_secret` alongside shows here). */
  readonly parameters?: readonly string[] | undefined;
  readonly answer?: TokenEndpointAnswer | undefined;
  readonly answered?: string | undefined;
  readonly ms?: number | undefined;
};

export type ProviderCheckReport = {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly grant: ProbeGrant;
  readonly results: readonly CaseResult[];
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** `N passed, M failed` (`, K skipped` when any were). */
  readonly summary: string;
  /** Warnings about the run itself (a provider that may look at the grant first). */
  readonly warnings: readonly string[];
  /** 0 every bad assertion refused; 1 a bad assertion accepted; 2 could not judge. */
  readonly exitCode: 0 | 1 | 2;
};

export type ProviderCheckOptions = {
  /** The provider claims RFC 10070: the token endpoint as `aud` must be refused too. */
  readonly rfc10070?: boolean | undefined;
  readonly grant?: ProbeGrant | undefined;
  readonly onResult?: ((result: CaseResult) => void) | undefined;
};

/** What every case builds on: the client, its key, the provider. */
type Material = {
  readonly clientId: string;
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** The audience the valid assertion carries (the configured one). */
  readonly audience: string;
  readonly alg: string;
  readonly typ: boolean;
  /** Send the SHA-1 `x5t` beside `x5t#S256` (OIDC_CLIENT_ASSERTION_X5T_SHA1). */
  readonly x5tSha1: boolean;
  readonly key: ClientKey;
  /** A key pair of the same type that nobody registered. */
  readonly stranger: { readonly privateKey: CryptoKey; readonly publicJwk: JWK };
  readonly lifetimeSeconds: number;
};

type Attempt = {
  readonly assertion: string;
  readonly extra?: Readonly<Record<string, string>> | undefined;
};

type Case = {
  readonly id: string;
  readonly title: string;
  readonly rule: string;
  /** Returns a reason to skip, or undefined. */
  readonly skip?: ((m: Material, options: ProviderCheckOptions) => string | undefined) | undefined;
  readonly build: (m: Material) => Promise<Attempt>;
};

const now = () => Math.floor(Date.now() / 1000);

/** The claims of a valid assertion, with `overrides` (an undefined member is left out). */
function claims(m: Material, overrides: Record<string, unknown> = {}): JWTPayload {
  const iat = now();
  const all: Record<string, unknown> = {
    iss: m.clientId,
    sub: m.clientId,
    aud: m.audience,
    iat,
    nbf: iat,
    exp: iat + m.lifetimeSeconds,
    jti: randomBytes(32).toString('base64url'),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

/** The valid header, with `overrides` (an undefined member is left out). */
function header(m: Material, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const all: Record<string, unknown> = {
    alg: m.alg,
    kid: m.key.kid,
    ...(m.typ ? { typ: CLIENT_ASSERTION_TYP } : {}),
    ...(m.key.certificate ? { 'x5t#S256': m.key.certificate.x5tS256 } : {}),
    ...(m.key.certificate && m.x5tSha1 ? { x5t: m.key.certificate.x5t } : {}),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

function sign(
  payload: JWTPayload,
  protectedHeader: Record<string, unknown>,
  key: CryptoKey | Uint8Array,
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(protectedHeader as { alg: string }).sign(key);
}

/** The registered public key, as an attacker who read the JWKS has it. */
function publicPem(m: Material): string {
  return createPublicKey({ key: m.key.publicJwk as JsonWebKey, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
}

function publicJwkJson(m: Material): string {
  const { kid: _kid, use: _use, alg: _alg, x5c: _x5c, ...members } = m.key.publicJwk;
  void _x5c;
  return JSON.stringify(members);
}

const VALID: Case = {
  id: 'valid',
  title: 'the valid assertion',
  rule: 'accepted: iss = sub = client_id, aud, exp, iat, unique jti, signed with the registered key (RFC 7523 §3)',
  build: async (m) => ({ assertion: await sign(claims(m), header(m), m.key.privateKey) }),
};

const REPLAY_ID = 'replayed_jti';

/** The bad assertions, each refused by a provider that verifies client assertions safely. */
const BAD_CASES: readonly Case[] = [
  {
    id: 'alg_none',
    title: 'alg: none (unsigned)',
    rule: 'refused: an unsigned JWT proves nothing (RFC 8725 §2.1, §3.1; RFC 7523 §3 item 9)',
    build: async (m) => ({
      assertion: new UnsecuredJWT(claims(m)).encode(),
    }),
  },
  {
    id: 'hmac_public_key_pem',
    title: 'HS256 keyed with the registered public key (PEM)',
    rule: 'refused: algorithm confusion turns the public key into a shared secret (RFC 8725 §2.1, §3.1)',
    build: async (m) => ({
      assertion: await sign(
        claims(m),
        header(m, { alg: 'HS256' }),
        new TextEncoder().encode(publicPem(m)),
      ),
    }),
  },
  {
    id: 'hmac_public_key_jwk',
    title: 'HS256 keyed with the registered public key (JWK)',
    rule: 'refused: algorithm confusion turns the public key into a shared secret (RFC 8725 §2.1, §3.1)',
    build: async (m) => ({
      assertion: await sign(
        claims(m),
        header(m, { alg: 'HS256' }),
        new TextEncoder().encode(publicJwkJson(m)),
      ),
    }),
  },
  {
    id: 'foreign_key_registered_kid',
    title: 'signed by a foreign key, naming the registered kid',
    rule: 'refused: the signature must verify with the registered key (RFC 7523 §3 item 9)',
    build: async (m) => ({
      assertion: await sign(claims(m), header(m), m.stranger.privateKey),
    }),
  },
  {
    id: 'unknown_kid',
    title: 'signed by a foreign key with an unknown kid, its public key embedded (jwk header)',
    rule: 'refused: only registered keys verify; a key the JWT brings along is worthless (RFC 8725 §3.10)',
    build: async (m) => ({
      assertion: await sign(
        claims(m),
        header(m, {
          kid: `unknown-${randomBytes(8).toString('hex')}`,
          jwk: m.stranger.publicJwk,
          'x5t#S256': undefined,
          x5t: undefined,
        }),
        m.stranger.privateKey,
      ),
    }),
  },
  {
    id: 'expired',
    title: 'expired 15 minutes ago',
    rule: 'refused: exp in the past (RFC 7523 §3 item 4)',
    build: async (m) => {
      const iat = now() - 20 * 60;
      return {
        assertion: await sign(
          claims(m, { iat, nbf: iat, exp: now() - 15 * 60 }),
          header(m),
          m.key.privateKey,
        ),
      };
    },
  },
  {
    id: 'exp_far_ahead',
    title: 'exp 25 hours ahead',
    rule:
      'refused: a long-lived assertion is a bearer credential for that long (RFC 7523 §3 item 4 allows the ' +
      'server to bound it; the OpenID conformance suite refuses more than a day)',
    build: async (m) => ({
      assertion: await sign(claims(m, { exp: now() + 25 * 3600 }), header(m), m.key.privateKey),
    }),
  },
  {
    id: 'iat_future',
    title: 'iat an hour in the future',
    rule:
      'refused: issued in the future beyond any clock skew (RFC 7523 §3 item 6: the server may reject ' +
      'unreasonable iat)',
    build: async (m) => ({
      assertion: await sign(
        claims(m, { iat: now() + 3600, nbf: undefined, exp: now() + 120 }),
        header(m),
        m.key.privateKey,
      ),
    }),
  },
  {
    id: 'missing_jti',
    title: 'no jti',
    rule: 'refused: without a jti replay cannot be detected (RFC 7523 §3 item 7, OIDC Core §9: jti REQUIRED)',
    build: async (m) => ({
      assertion: await sign(claims(m, { jti: undefined }), header(m), m.key.privateKey),
    }),
  },
  {
    id: REPLAY_ID,
    title: 'the same assertion (same jti) a second time',
    rule: 'refused: a jti is good once (RFC 7523 §3 item 7; OIDC Core §9)',
    build: async (m) => ({ assertion: await sign(claims(m), header(m), m.key.privateKey) }),
  },
  {
    id: 'iss_not_sub',
    title: 'iss ≠ sub (iss names another client)',
    rule: 'refused: iss and sub are both the client_id (RFC 7523 §3 items 1, 2.B)',
    build: async (m) => ({
      assertion: await sign(claims(m, { iss: 'another-client' }), header(m), m.key.privateKey),
    }),
  },
  {
    id: 'sub_not_client_id',
    title: 'sub ≠ client_id',
    rule: 'refused: sub is the client_id of the client authenticating (RFC 7523 §3 item 2.B)',
    build: async (m) => ({
      assertion: await sign(claims(m, { sub: 'another-client' }), header(m), m.key.privateKey),
    }),
  },
  {
    id: 'token_endpoint_audience',
    title: 'aud = the token endpoint URL',
    rule: 'refused by an RFC 10070 provider: only its issuer identifier is a safe audience (audience injection)',
    skip: (m, options) =>
      !options.rfc10070
        ? 'the provider is not said to follow RFC 10070 (pass --rfc10070 when it does)'
        : m.audience === m.tokenEndpoint
          ? 'the valid assertion itself uses the token endpoint (OIDC_CLIENT_ASSERTION_AUDIENCE)'
          : undefined,
    build: async (m) => ({
      assertion: await sign(claims(m, { aud: m.tokenEndpoint }), header(m), m.key.privateKey),
    }),
  },
  {
    id: 'audience_array_foreign',
    title: 'aud = [the audience, a foreign one]',
    rule:
      'refused: an assertion for several audiences can be replayed by any of them (RFC 10070: the issuer as ' +
      'sole value)',
    build: async (m) => ({
      assertion: await sign(
        claims(m, { aud: [m.audience, 'https://attacker.example/'] }),
        header(m),
        m.key.privateKey,
      ),
    }),
  },
  {
    id: 'client_secret_alongside',
    title: 'a client_secret sent alongside the assertion',
    rule: 'refused: one client authentication method per request (RFC 6749 §2.3)',
    build: async (m) => ({
      assertion: await sign(claims(m), header(m), m.key.privateKey),
      extra: { client_secret: 'provider-check-not-a-secret' },
    }),
  },
];

/** The case list, for documentation and tests. */
export const CHECK_CASES: ReadonlyArray<Pick<Case, 'id' | 'title' | 'rule'>> = [
  VALID,
  ...BAD_CASES,
];

async function createStranger(alg: string): Promise<Material['stranger']> {
  const { privateKey, publicKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg);
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

function resultOf(c: Case, probe: ProbeResult, status: CheckStatus, reason?: string): CaseResult {
  return {
    id: c.id,
    title: c.title,
    rule: c.rule,
    status,
    reason,
    sent: probe.assertion,
    parameters: probe.parameters,
    answer: probe.answer,
    answered: probe.answered,
    ms: probe.ms,
  };
}

/**
 * PASS when refused, FAIL when accepted, SKIP when the answer says neither: no answer, or one
 * that is not a token endpoint's verdict on the client (a 429 rate limit, a 5xx, a redirect).
 * MUST: a PASS claims the provider refused the assertion; a throttled request proves nothing.
 */
function judgeBad(c: Case, probe: ProbeResult): CaseResult {
  switch (probe.verdict) {
    case 'authenticated':
      return resultOf(c, probe, 'FAIL', 'the provider accepted it');
    case 'refused':
      return resultOf(c, probe, 'PASS');
    case 'unclear':
      return resultOf(
        c,
        probe,
        'SKIP',
        'the answer says nothing about client authentication (not 400/401/403): run again later',
      );
    case 'no_answer':
      return resultOf(c, probe, 'SKIP', 'no answer from the token endpoint');
  }
}

function summarize(results: readonly CaseResult[]): string {
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  const skipped = count('SKIP');
  return `${count('PASS')} passed, ${count('FAIL')} failed${skipped ? `, ${skipped} skipped` : ''}`;
}

async function discover(settings: AppConfig): Promise<client.ServerMetadata> {
  try {
    return (await discoverForProbes(settings)).serverMetadata();
  } catch (err) {
    const declared = discoveredIssuerMismatch(err);
    if (declared !== undefined) {
      throw new ConfigError([
        {
          variable: 'OIDC_ISSUER',
          // MUST: on one line without control characters: the provider wrote it, a terminal shows it.
          message: `the provider at ${settings.issuer} declares its issuer as "${oneLine(declared)}"`,
          fix: 'set OIDC_ISSUER to exactly the issuer the provider declares',
        },
      ]);
    }
    throw new Error(`discovery of ${settings.issuer} failed: ${describeError(err)}`, {
      cause: err,
    });
  }
}

/**
 * Runs every case against the configured provider.
 *
 * @throws {ConfigError} when the settings or the key cannot be used.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export async function runProviderCheck(
  settings: AppConfig,
  options: ProviderCheckOptions = {},
): Promise<ProviderCheckReport> {
  const metadata = await discover(settings);
  const keys = await loadClientKeySet(settings.clientKeyFile, {
    passphrase: settings.clientKeyPassphrase,
    certFile: settings.clientCertFile,
    alg: settings.assertion.alg,
  });
  const key = keys.signing;
  const alg = selectAssertionAlg(key, metadata.token_endpoint_auth_signing_alg_values_supported);
  if (alg === undefined || !metadata.token_endpoint) {
    throw new ConfigError([
      {
        variable: alg === undefined ? 'OIDC_CLIENT_AUTH_ALG' : 'OIDC_ISSUER',
        message:
          alg === undefined
            ? `the provider accepts none of the algorithms this key signs (${key.alg})`
            : 'the provider has no token endpoint',
        fix: 'run npm run doctor',
      },
    ]);
  }
  const material: Material = {
    clientId: settings.clientId,
    issuer: metadata.issuer,
    tokenEndpoint: metadata.token_endpoint,
    audience: resolveAudience(settings.assertion.audience, metadata),
    alg,
    typ: settings.assertion.typ,
    x5tSha1: settings.assertion.x5tSha1,
    key,
    stranger: await createStranger(alg),
    lifetimeSeconds: settings.assertion.lifetimeSeconds,
  };
  const target: ProbeTarget = {
    metadata,
    clientId: settings.clientId,
    redirectUri: settings.redirectUri,
    timeoutMs: settings.httpTimeoutMs,
  };
  const grant = options.grant ?? 'authorization_code';
  const send = async (attempt: Attempt) =>
    sendTokenProbe(target, sendAssertionAsIs(attempt.assertion), { grant, extra: attempt.extra });
  const results: CaseResult[] = [];
  const record = (result: CaseResult) => {
    results.push(result);
    options.onResult?.(result);
  };

  const valid = await send(await VALID.build(material));
  const validAccepted = valid.verdict === 'authenticated';
  record(
    resultOf(
      VALID,
      valid,
      validAccepted ? 'PASS' : 'FAIL',
      validAccepted ? undefined : 'the provider refused the valid assertion: run npm run doctor',
    ),
  );
  for (const c of BAD_CASES) {
    const skip = validAccepted
      ? c.skip?.(material, options)
      : 'nothing can be judged while the valid assertion is refused';
    if (skip) {
      record({ id: c.id, title: c.title, rule: c.rule, status: 'SKIP', reason: skip });
      continue;
    }
    const attempt = await c.build(material);
    if (c.id === REPLAY_ID) {
      const firstUse = await send(attempt);
      if (firstUse.verdict !== 'authenticated') {
        record(
          resultOf(c, firstUse, 'SKIP', `its first use was not accepted (${firstUse.verdict})`),
        );
        continue;
      }
    }
    record(judgeBad(c, await send(attempt)));
  }

  const warnings: string[] = [];
  const accepted = (id: string) => results.find((r) => r.id === id)?.status === 'FAIL';
  if (
    grant === 'authorization_code' &&
    accepted('alg_none') &&
    accepted('foreign_key_registered_kid')
  ) {
    warnings.push(
      'Even an unsigned assertion and one signed by a foreign key got past client authentication: the provider may ' +
        'judge the made-up code before the client. Run again with --grant client_credentials (if the client has that ' +
        'grant) to be sure.',
    );
  }
  const failed = results.filter((r) => r.status === 'FAIL' && r.id !== VALID.id).length;
  return {
    issuer: metadata.issuer,
    tokenEndpoint: metadata.token_endpoint,
    grant,
    results,
    passed: results.filter((r) => r.status === 'PASS').length,
    failed: results.filter((r) => r.status === 'FAIL').length,
    skipped: results.filter((r) => r.status === 'SKIP').length,
    summary: summarize(results),
    warnings,
    exitCode: failed > 0 ? 1 : validAccepted ? 0 : 2,
  };
}
