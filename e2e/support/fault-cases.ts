import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

import type { AuthErrorCode } from '../../lib/errors';
import { HttpAgent } from './http-agent';
import {
  corruptSignature,
  createSignedUserInfo,
  generateProviderKey,
  NEVER,
  RawResponse,
  signJwt,
  STALL_BODY,
  createUnsecuredJwt,
  type Fault,
  type IdTokenDraft,
  type MisbehavingProvider,
  type ProviderKey,
} from './misbehaving-provider';
import {
  askWhoIsSignedIn,
  authorize,
  settleCallback,
  signIn,
  signInFailingAtLogin,
  type Outcome,
} from './sign-in-driver';

/**
 * The catalogue of provider faults: one misbehaviour per case, each with the specification it
 * comes from (OpenID Connect Core, RFC 9207, RFC 6749, the OpenID Foundation RP conformance test
 * it mirrors) and the outcome the app must reach.
 */

export type Expected =
  | { readonly session: true }
  | {
      readonly error: AuthErrorCode;
      /** Whether the code issued for this sign-in reached the token endpoint. */
      readonly redeemed?: boolean;
      /** UserInfo may be called (only when UserInfo itself is at fault). */
      readonly userinfo?: boolean;
      /** The browser was signed in before, and the refused callback must leave that session. */
      readonly sessionKept?: boolean;
    };

export type CaseContext = {
  readonly appUrl: string;
  readonly op: MisbehavingProvider;
  readonly clientId: string;
  /** The app's output so far. */
  readonly appLog: () => readonly string[];
};

export type FaultCase = {
  readonly name: string;
  /** The specification section and conformance test this case comes from. */
  readonly ref: string;
  readonly expected: Expected;
  readonly fault?: Fault;
  /** Brings the provider, and the app's view of it, into the state the case needs. */
  readonly setup?: (ctx: CaseContext) => Promise<void>;
  /** Runs the case when it is more than one sign-in with one fault. */
  readonly run?: (ctx: CaseContext) => Promise<Outcome>;
  /** Further assertions; throws when the outcome is wrong in a way `expected` cannot say. */
  readonly check?: (outcome: Outcome, ctx: CaseContext, before: Snapshot) => void;
  /** Runs after the case whatever happened (restores shared provider state). */
  readonly cleanup?: (ctx: CaseContext) => Promise<void> | void;
};

/** Provider counters taken before a case runs. */
export type Snapshot = { readonly jwksFetches: number; readonly tokenRequests: number };

const UNTRUSTED_CLIENT = 'another-client-of-this-provider';
/** The app's client_id in every fault case (e2e/provider-faults.spec.ts). */
const CLIENT_ID_OF_CASES = 'client_using_jwt';

function editClaims(edit: (c: IdTokenDraft['claims']) => void): Fault {
  return { idToken: (draft) => edit(draft.claims) };
}

function editHeader(edit: (h: IdTokenDraft['header']) => void): Fault {
  return { idToken: (draft) => edit(draft.header) };
}

/**
 * The ID token signed, validly, by a key of another algorithm that the provider has just
 * published: only the registered algorithm may be accepted.
 */
function signWithPublishedKeyOf(alg: 'RS256' | 'ES256'): Pick<FaultCase, 'fault' | 'cleanup'> {
  return {
    fault: {
      idToken: async (draft, op) => {
        const key = await generateProviderKey(alg);
        op.published = [...op.published, key];
        draft.key = key;
        draft.header.alg = alg;
        draft.header.kid = key.kid;
      },
    },
    cleanup: (ctx) => {
      ctx.op.published = [ctx.op.signing];
    },
  };
}

/** The authorization response with `iss` set to `iss`, or without `iss` when undefined. */
function responseIss(iss: string | undefined): Fault {
  return {
    authorizationResponse: (p) => {
      if (iss === undefined) p.delete('iss');
      else p.set('iss', iss);
    },
  };
}

function editTokenResponse(edit: (body: Record<string, unknown>) => void): Fault {
  return {
    tokenResponse: (body) => {
      edit(body);
      return body;
    },
  };
}

function expectTrue(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/**
 * Makes the app's cached provider JWKS equal what the provider publishes: a new signing key plus
 * `extra` keys, and one good sign-in so that the app, seeing an unknown `kid`, refetches.
 */
export async function publishAndSync(
  ctx: CaseContext,
  extra: readonly ProviderKey[] = [],
): Promise<void> {
  const signing = await ctx.op.rotate();
  ctx.op.published = [signing, ...extra];
  const warmUp = await signIn(ctx.appUrl, ctx.op, {});
  expectTrue(
    warmUp.kind === 'session',
    `warm-up sign-in after a key change failed: ${warmUp.code ?? warmUp.kind}`,
  );
}

const expectError = (error: AuthErrorCode, redeemed: boolean, userinfo = false): Expected => ({
  error,
  redeemed,
  userinfo,
});
const ID_TOKEN_REJECTED = expectError('id_token_invalid', true);
const NOT_REDEEMED = false;

/** Cases for a provider that signs with RS256 and advertises RFC 9207 `iss`. */
export const PRIMARY_CASES: readonly FaultCase[] = [
  // --- the happy path, and variations a correct provider may send
  {
    name: 'conformant provider: discovery, PKCE, client assertion, UserInfo',
    ref:
      'OIDC Core §3.1; oidcc-client-test, -idtoken-sig-rs256, ' +
      '-scope-userinfo-claims; Config RP -discovery-openid-configuration, ' +
      '-discovery-jwks-uri-keys',
    expected: { session: true },
    check: (outcome, ctx) => {
      const request = outcome.authorization?.params;
      expectTrue(request?.get('response_type') === 'code', 'response_type=code');
      expectTrue(request?.get('code_challenge_method') === 'S256', 'PKCE S256');
      expectTrue(
        (request?.get('scope') ?? '').split(' ').includes('email'),
        'scope asks for UserInfo claims (email)',
      );
      const token = ctx.op.redemptionsOf(outcome.authorization?.code)[0]?.params;
      expectTrue(
        token?.get('client_assertion_type') ===
          'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        'client_assertion_type',
      );
      expectTrue(!token?.has('client_secret'), 'no client secret');
      const assertion = token?.get('client_assertion')?.split('.')[1];
      const payload = assertion
        ? (JSON.parse(Buffer.from(assertion, 'base64url').toString()) as {
            aud?: unknown;
            iss?: unknown;
            sub?: unknown;
          })
        : {};
      expectTrue(
        payload.aud === ctx.op.issuer,
        `client assertion aud = issuer (got ${String(payload.aud)})`,
      );
      expectTrue(
        payload.iss === ctx.clientId && payload.sub === ctx.clientId,
        'client assertion iss = sub = client_id',
      );
      expectTrue(
        request?.get('client_id') === ctx.clientId,
        'client_id in the authorization request',
      );
      const verifier = token?.get('code_verifier') ?? '';
      expectTrue(
        createHash('sha256').update(verifier).digest('base64url') ===
          request?.get('code_challenge'),
        'the code_verifier matches the S256 challenge',
      );
      expectTrue(outcome.userinfoCalls === 1, 'UserInfo read once');
    },
  },
  {
    name: 'ID token aud is an array holding only the client_id',
    ref: 'OIDC Core §3.1.3.7 (3); fapi2-…-client-test-valid-aud-as-array',
    fault: editClaims((c) => {
      c.aud = [String(c.aud)];
    }),
    expected: { session: true },
  },
  {
    name: 'ID token azp equals the client_id',
    ref: 'OIDC Core §3.1.3.7 (5)',
    fault: editClaims((c) => {
      c.azp = c.aud;
    }),
    expected: { session: true },
  },
  {
    name: 'token_type in inverted case ("bEARER")',
    ref: 'RFC 6749 §5.1 (case-insensitive); fapi2-…-client-test-token-type-case-insensitivity',
    fault: editTokenResponse((b) => {
      b.token_type = 'bEARER';
    }),
    expected: { session: true },
  },
  {
    name: 'token response without expires_in',
    ref: 'RFC 6749 §5.1 (RECOMMENDED only); fapi2-…-client-test-token-endpoint-response-without-expires_in',
    fault: editTokenResponse((b) => {
      delete b.expires_in;
    }),
    expected: { session: true },
  },

  // --- ID token signature and algorithm
  {
    name: 'ID token with a bad signature',
    ref: 'OIDC Core §3.1.3.7 (6); oidcc-client-test-invalid-sig-rs256',
    fault: { signedIdToken: (jwt) => corruptSignature(jwt) },
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token with alg: none (unsigned)',
    ref: 'OIDC Core §3.1.3.7 (7); oidcc-client-test-idtoken-sig-none; fapi2-…-invalid-null-alg',
    fault: { signedIdToken: (_jwt, draft) => createUnsecuredJwt(draft.claims) },
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token signed with PS256, registered alg is RS256 (valid signature)',
    ref: 'OIDC Core §3.1.3.7 (7), OIDC Registration id_token_signed_response_alg; fapi2-…-invalid-alternate-alg',
    fault: editHeader((h) => {
      h.alg = 'PS256';
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token signed with ES256 by a published key, registered alg is RS256',
    ref: 'OIDC Core §3.1.3.7 (7); oidcc-client-test-invalid-sig-es256',
    ...signWithPublishedKeyOf('ES256'),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token MACed with HS256',
    ref: 'OIDC Core §3.1.3.7 (8), §10.1; oidcc-client-test-invalid-sig-hs256',
    fault: {
      signedIdToken: (_jwt, draft) =>
        signJwt(
          { alg: 'HS256', typ: 'JWT' },
          draft.claims,
          new TextEncoder().encode('a-client-secret-this-client-never-had-0123456789'),
        ),
    },
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token signed by a key outside the JWKS under a published kid',
    ref: 'OIDC Core §3.1.3.7 (6), §10.1',
    fault: {
      idToken: async (draft) => {
        const stranger = await generateProviderKey('RS256');
        draft.key = stranger;
      },
    },
    expected: ID_TOKEN_REJECTED,
  },

  // --- ID token claims
  {
    name: 'ID token iss is another issuer',
    ref: 'OIDC Core §3.1.3.7 (2); oidcc-client-test-invalid-iss; fapi2-…-invalid-iss',
    fault: editClaims((c) => {
      c.iss = 'https://attacker.example';
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token without iss',
    ref: 'OIDC Core §2, §3.1.3.7 (2); fapi2-…-invalid-missing-iss',
    fault: editClaims((c) => {
      delete c.iss;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token aud is another client',
    ref: 'OIDC Core §3.1.3.7 (3); oidcc-client-test-invalid-aud; fapi2-…-invalid-aud',
    fault: editClaims((c) => {
      c.aud = UNTRUSTED_CLIENT;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token without aud',
    ref: 'OIDC Core §2; oidcc-client-test-missing-aud; fapi2-…-invalid-missing-aud',
    fault: editClaims((c) => {
      delete c.aud;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token aud has an extra, untrusted value and no azp',
    ref: 'OIDC Core §3.1.3.7 (3), (4); fapi2-…-invalid-secondary-aud',
    fault: editClaims((c) => {
      c.aud = [String(c.aud), UNTRUSTED_CLIENT];
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token aud has an extra, untrusted value, azp = client_id',
    ref: 'OIDC Core §3.1.3.7 (3) (additional audiences not trusted by the client)',
    fault: editClaims((c) => {
      c.azp = c.aud;
      c.aud = [String(c.aud), UNTRUSTED_CLIENT];
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token azp is another client',
    ref: 'OIDC Core §3.1.3.7 (5)',
    fault: editClaims((c) => {
      c.azp = UNTRUSTED_CLIENT;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token without sub',
    ref: 'OIDC Core §2; oidcc-client-test-missing-sub',
    fault: editClaims((c) => {
      delete c.sub;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token without iat',
    ref: 'OIDC Core §2; oidcc-client-test-missing-iat',
    fault: editClaims((c) => {
      delete c.iat;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token without exp',
    ref: 'OIDC Core §2; fapi2-…-invalid-missing-exp',
    fault: editClaims((c) => {
      delete c.exp;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token expired (exp 10 minutes ago)',
    ref: 'OIDC Core §3.1.3.7 (9); fapi2-…-invalid-expired-exp',
    fault: editClaims((c) => {
      c.exp = Math.floor(Date.now() / 1000) - 600;
      c.iat = Math.floor(Date.now() / 1000) - 900;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token not valid before an hour from now (nbf)',
    ref: 'RFC 7519 §4.1.5',
    fault: editClaims((c) => {
      c.nbf = Math.floor(Date.now() / 1000) + 3600;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token nonce is not the one sent',
    ref: 'OIDC Core §3.1.3.7 (11); oidcc-client-test-nonce-invalid; fapi2-…-invalid-nonce',
    fault: editClaims((c) => {
      c.nonce = 'a-nonce-from-another-sign-in';
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token without nonce',
    ref: 'OIDC Core §3.1.3.7 (11); fapi2-…-invalid-missing-nonce',
    fault: editClaims((c) => {
      delete c.nonce;
    }),
    expected: ID_TOKEN_REJECTED,
  },

  // --- kid and key selection
  {
    name: 'ID token without kid, the JWKS holds one key',
    ref: 'OIDC Core §10.1; oidcc-client-test-kid-absent-single-jwks',
    setup: (ctx) => publishAndSync(ctx),
    fault: editHeader((h) => {
      delete h.kid;
    }),
    expected: { session: true },
  },
  {
    name: 'ID token without kid, the JWKS holds two RSA keys',
    ref: 'OIDC Core §10.1 (kid MUST with several keys); oidcc-client-test-kid-absent-multiple-jwks',
    setup: async (ctx) => publishAndSync(ctx, [await generateProviderKey('RS256')]),
    fault: editHeader((h) => {
      delete h.kid;
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'ID token without kid, the JWKS holds an RSA and an EC key',
    ref: 'OIDC Core §10.1 (kid MUST with several keys, whatever their type)',
    setup: async (ctx) => publishAndSync(ctx, [await generateProviderKey('ES256')]),
    fault: editHeader((h) => {
      delete h.kid;
    }),
    expected: ID_TOKEN_REJECTED,
    cleanup: (ctx) => publishAndSync(ctx),
  },
  {
    name: 'ID token kid is not in the JWKS',
    ref: 'OIDC Core §10.1.1 (refetch once, then reject)',
    fault: editHeader((h) => {
      h.kid = 'kid-the-provider-never-published';
    }),
    expected: ID_TOKEN_REJECTED,
    check: (_outcome, ctx, before) => {
      expectTrue(
        ctx.op.jwksFetches === before.jwksFetches + 1,
        `the app refetched the JWKS once for the unknown kid (fetches: ${ctx.op.jwksFetches - before.jwksFetches})`,
      );
    },
  },
  {
    name: 'signing key rotated between two sign-ins',
    ref: 'OIDC Core §10.1.1; oidcc-client-test-signing-key-rotation',
    run: async (ctx) => {
      const first = await signIn(ctx.appUrl, ctx.op, {});
      expectTrue(first.kind === 'session', 'first sign-in before the rotation');
      await ctx.op.rotate();
      return signIn(ctx.appUrl, ctx.op, {});
    },
    expected: { session: true },
    check: (_outcome, ctx, before) => {
      expectTrue(
        ctx.op.jwksFetches > before.jwksFetches,
        'the app refetched the JWKS after the rotation',
      );
    },
  },
  {
    name: 'signing key rotated just before the ID token is signed',
    ref: 'OIDC Core §10.1.1; oidcc-client-test-signing-key-rotation-just-before-signing',
    fault: {
      beforeSigning: async (op) => {
        await op.rotate();
      },
    },
    expected: { session: true },
    check: (_outcome, ctx, before) => {
      expectTrue(
        ctx.op.jwksFetches === before.jwksFetches + 1,
        'the app refetched the JWKS once, at once (no cooldown wait)',
      );
    },
  },

  // --- authorization response (the code must never be redeemed)
  {
    name: 'authorization response state is another sign-in’s',
    ref:
      'RFC 6749 §4.1.2, §10.12; RFC 9700 §4.7; ' +
      'fapi2-…-client-test-ensure-authorization-response-with-invalid-state-fails',
    fault: {
      authorizationResponse: (p) => {
        p.set('state', 'state-of-another-sign-in');
      },
    },
    expected: expectError('state_mismatch', NOT_REDEEMED),
  },
  {
    name: 'authorization response without state',
    ref: 'RFC 6749 §4.1.2; fapi2-…-client-test-ensure-authorization-response-with-invalid-missing-state-fails',
    fault: {
      authorizationResponse: (p) => {
        p.delete('state');
      },
    },
    expected: expectError('state_mismatch', NOT_REDEEMED),
  },
  {
    name: 'authorization response with state repeated',
    ref: 'RFC 6749 §3.1 (parameters MUST NOT be repeated)',
    fault: {
      authorizationResponse: (p) => {
        p.append('state', p.get('state') ?? '');
      },
    },
    expected: expectError('state_mismatch', NOT_REDEEMED),
  },
  {
    name: 'authorization response iss names another issuer',
    ref: 'RFC 9207 §2.4; fapi2-…-client-test-invalid-authorization-response-iss',
    fault: responseIss('https://attacker.example'),
    expected: expectError('issuer_mismatch', NOT_REDEEMED),
  },
  {
    name: 'authorization response without iss, the provider advertises it',
    ref:
      'RFC 9207 §2.4 (authorization_response_iss_parameter_supported); ' +
      'fapi2-…-client-test-remove-authorization-response-iss',
    fault: responseIss(undefined),
    expected: expectError('issuer_mismatch', NOT_REDEEMED),
  },
  {
    name: 'authorization response with code repeated',
    ref: 'RFC 6749 §3.1 (parameters MUST NOT be repeated)',
    fault: {
      authorizationResponse: (p) => {
        p.append('code', 'a-second-code');
      },
    },
    expected: expectError('invalid_authorization_response', NOT_REDEEMED),
  },
  {
    name: 'authorization response without code or error',
    ref: 'RFC 6749 §4.1.2',
    fault: {
      authorizationResponse: (p) => {
        p.delete('code');
      },
    },
    expected: expectError('invalid_authorization_response', NOT_REDEEMED),
  },
  ...[
    'access_denied',
    'login_required',
    'interaction_required',
    'server_error',
    'temporarily_unavailable',
    'invalid_scope',
  ].map((error): FaultCase => ({
    name: `authorization error response: ${error}`,
    ref: 'RFC 6749 §4.1.2.1; OIDC Core §3.1.2.6',
    fault: {
      authorizationResponse: (p) => {
        p.delete('code');
        p.set('error', error);
        p.set('error_description', `<script>alert("${error}")</script> & <b>bold</b>`);
      },
    },
    expected: expectError('authorization_error', NOT_REDEEMED),
    check: (outcome) => {
      const html = outcome.errorPage?.body ?? '';
      expectTrue(html.includes(`>${error}<`), 'the OAuth error is shown');
      expectTrue(
        html.includes('&lt;script&gt;alert(') && !html.includes(`<script>alert("${error}")`),
        'error_description is shown as escaped text',
      );
      expectTrue(!html.includes('<b>bold</b>'), 'error_description markup is not rendered');
    },
  })),
  {
    name: 'authorization error response without state',
    ref: 'RFC 6749 §4.1.2.1 (state REQUIRED when sent)',
    fault: {
      authorizationResponse: (p) => {
        p.delete('code');
        p.delete('state');
        p.set('error', 'access_denied');
      },
    },
    expected: expectError('state_mismatch', NOT_REDEEMED),
  },
  {
    name: 'callback replayed in a browser without the transaction cookie',
    ref: 'RFC 9700 §4.7.1 (CSRF); OIDC Core §3.1.2.7',
    run: async (ctx) => {
      const victim = new HttpAgent();
      const first = await signIn(ctx.appUrl, ctx.op, {}, victim);
      expectTrue(first.kind === 'session' && first.callback !== undefined, 'the original sign-in');
      const attacker = new HttpAgent();
      return settleCallback(
        attacker,
        ctx.appUrl,
        ctx.op,
        first.callback ?? '',
        first.authorization,
        ctx.op.userinfoRequests.length,
      );
    },
    expected: { error: 'missing_transaction' },
    check: (outcome) => {
      expectTrue(
        outcome.redemptions === 1,
        `the replay did not reach the token endpoint (redemptions: ${outcome.redemptions})`,
      );
    },
  },
  {
    name: 'callback replayed in the same browser after the sign-in (the session stays)',
    ref: 'RFC 6749 §4.1.2 (a code is used once); the transaction is single-use',
    run: async (ctx) => {
      const agent = new HttpAgent();
      const first = await signIn(ctx.appUrl, ctx.op, {}, agent);
      expectTrue(first.kind === 'session', 'the original sign-in');
      return settleCallback(
        agent,
        ctx.appUrl,
        ctx.op,
        first.callback ?? '',
        first.authorization,
        ctx.op.userinfoRequests.length,
      );
    },
    expected: { error: 'missing_transaction', sessionKept: true },
    check: (outcome) => {
      expectTrue(
        outcome.redemptions === 1,
        `the replay did not reach the token endpoint (redemptions: ${outcome.redemptions})`,
      );
    },
  },
  {
    name: 'the same callback twice at once in one browser (a reload while it is pending)',
    ref: 'RFC 6749 §4.1.2 (the client MUST NOT use the code more than once); OIDC Core §16.11',
    run: async (ctx) => {
      const agent = new HttpAgent();
      // The provider holds the first redemption until the second request has been answered, so
      // that the second arrives while the first is in flight (its code at the token endpoint),
      // with the transaction cookie still in the browser: no fixed sleep racing the app. The
      // hold gives up after 10 s, so that an app that made the second wait fails, not hangs.
      let reached = (): void => undefined;
      const atTokenEndpoint = new Promise<void>((done) => (reached = done));
      let release = (): void => undefined;
      const held = new Promise<void>((done) => {
        release = done;
        setTimeout(done, 10_000).unref();
      });
      const slow: Fault = {
        beforeSigning: () => {
          reached();
          return held;
        },
      };
      const { callback, authorization } = await authorize(agent, ctx.appUrl, ctx.op, slow);
      const userinfoBefore = ctx.op.userinfoRequests.length;
      const first = agent.request(callback);
      await atTokenEndpoint;
      let second: Outcome;
      try {
        second = await settleCallback(
          agent,
          ctx.appUrl,
          ctx.op,
          callback,
          authorization,
          userinfoBefore,
        );
      } finally {
        release();
      }
      const firstAnswer = await first;
      expectTrue(
        firstAnswer.status === 303 && firstAnswer.location === `${ctx.appUrl}/profile`,
        `the first callback completes the sign-in (${firstAnswer.status} ${firstAnswer.location ?? ''})`,
      );
      const me = await askWhoIsSignedIn(agent, ctx.appUrl);
      expectTrue(me.sub === ctx.op.user.sub, `the first callback's session stands (${me.status})`);
      // Counted once both have ended (the provider records a redemption when it answers it).
      return { ...second, redemptions: ctx.op.redemptionsOf(authorization?.code).length };
    },
    expected: { error: 'missing_transaction' },
    check: (outcome) => {
      expectTrue(
        outcome.redemptions === 1,
        `the code was redeemed once, not once per request (redemptions: ${outcome.redemptions})`,
      );
    },
  },
  {
    name: 'two sign-ins in flight in one browser, completed in reverse order: both succeed',
    ref: 'several tabs; RFC 6749 §10.12 (state binds the response to the browser’s request)',
    run: async (ctx) => {
      const agent = new HttpAgent();
      const first = await authorize(agent, ctx.appUrl, ctx.op, {});
      const second = await authorize(agent, ctx.appUrl, ctx.op, {});
      const secondOutcome = await settleCallback(
        agent,
        ctx.appUrl,
        ctx.op,
        second.callback,
        second.authorization,
        ctx.op.userinfoRequests.length,
      );
      expectTrue(secondOutcome.kind === 'session', 'the second sign-in, completed first');
      return settleCallback(
        agent,
        ctx.appUrl,
        ctx.op,
        first.callback,
        first.authorization,
        ctx.op.userinfoRequests.length,
      );
    },
    expected: { session: true },
  },
  {
    name: 'a failed sign-in of this browser ends the session it had',
    ref: 'this app’s rule: no session after a failed sign-in; OIDC Core §3.1.3.7 (11)',
    run: async (ctx) => {
      const agent = new HttpAgent();
      expectTrue((await signIn(ctx.appUrl, ctx.op, {}, agent)).kind === 'session', 'signed in');
      const wrongNonce = editClaims((c) => {
        c.nonce = 'a-nonce-from-another-sign-in';
      });
      return signIn(ctx.appUrl, ctx.op, wrongNonce, agent);
    },
    expected: { error: 'id_token_invalid' },
  },
  {
    name: 'code of another browser’s sign-in injected into this one',
    ref: 'OIDC Core §3.1.3.7 (11) nonce, RFC 9700 §4.5 (code injection; PKCE is not checked by this provider)',
    run: async (ctx) => {
      const attacker = await authorize(new HttpAgent(), ctx.appUrl, ctx.op, {});
      const stolen = new URL(attacker.callback).searchParams.get('code') ?? '';
      const victim = new HttpAgent();
      const before = ctx.op.userinfoRequests.length;
      const injected = await authorize(victim, ctx.appUrl, ctx.op, {
        authorizationResponse: (p) => {
          p.set('code', stolen);
        },
      });
      const outcome = await settleCallback(
        victim,
        ctx.appUrl,
        ctx.op,
        injected.callback,
        injected.authorization,
        before,
      );
      return { ...outcome, redemptions: ctx.op.redemptionsOf(stolen).length };
    },
    expected: { error: 'id_token_invalid' },
  },

  // --- UserInfo
  {
    name: 'UserInfo sub differs from the ID token’s',
    ref: 'OIDC Core §5.3.2; oidcc-client-test-userinfo-invalid-sub',
    fault: { userinfo: (c) => ({ ...c, sub: 'someone-else' }) },
    expected: expectError('userinfo_invalid', true, true),
  },
  {
    name: 'UserInfo without sub',
    ref: 'OIDC Core §5.3.2 (sub MUST be returned)',
    fault: {
      userinfo: (c) => {
        const { sub: _sub, ...rest } = c;
        return rest;
      },
    },
    expected: expectError('userinfo_invalid', true, true),
  },
  {
    name: 'UserInfo answers HTTP 500 with an HTML page',
    ref: 'OIDC Core §5.3.3',
    fault: {
      userinfo: () =>
        new RawResponse(
          500,
          'text/html',
          '<html><body><h1>Internal Server Error</h1></body></html>',
        ),
    },
    expected: expectError('userinfo_invalid', true, true),
  },
  {
    name: 'UserInfo answers 401 invalid_token',
    ref: 'OIDC Core §5.3.3; RFC 6750 §3.1',
    fault: {
      userinfo: () =>
        new RawResponse(401, 'application/json', '{}', {
          'www-authenticate': 'Bearer error="invalid_token"',
        }),
    },
    expected: expectError('userinfo_invalid', true, true),
  },

  {
    name: 'UserInfo claims iss, aud, auth_time and acr of its own (plain JSON)',
    ref: 'OIDC Core §5.3.2, §2 (the ID token vouches for these)',
    fault: {
      userinfo: (c) => ({
        ...c,
        iss: 'https://attacker.example',
        aud: UNTRUSTED_CLIENT,
        auth_time: 1,
        acr: 'urn:forged:loa-4',
        name: 'Mallory From UserInfo',
      }),
    },
    expected: { session: true },
    check: (outcome, ctx) => {
      const claims = outcome.claims ?? {};
      expectTrue(claims.iss === ctx.op.issuer, `iss shown: ${String(claims.iss)}`);
      expectTrue(claims.aud === ctx.clientId, `aud shown: ${String(claims.aud)}`);
      expectTrue(claims.auth_time !== 1, 'auth_time is the ID token’s');
      expectTrue(claims.acr === undefined, `acr shown: ${String(claims.acr)}`);
      expectTrue(
        claims.name === 'Mallory From UserInfo',
        'profile claims still come from UserInfo',
      );
    },
  },
  {
    name: 'UserInfo signed (application/jwt) by the provider’s key, with iss and aud',
    ref: 'OIDC Core §5.3.2, §5.3.4',
    fault: {
      userinfo: (c, op) =>
        createSignedUserInfo(op, CLIENT_ID_OF_CASES, { ...c, email: 'signed@op.test' }),
    },
    expected: { session: true },
    check: (outcome) => {
      expectTrue(outcome.claims?.email === 'signed@op.test', 'the verified UserInfo is used');
    },
  },
  {
    name: 'UserInfo signed, with a bad signature',
    ref: 'OIDC Core §5.3.4 (1) (verify the signature, JWS)',
    fault: {
      userinfo: async (c, op) => {
        const signed = await createSignedUserInfo(op, CLIENT_ID_OF_CASES, c);
        return new RawResponse(200, 'application/jwt', corruptSignature(signed.body));
      },
    },
    expected: expectError('userinfo_invalid', true, true),
  },
  {
    name: 'UserInfo signed by a key outside the JWKS under a published kid',
    ref: 'OIDC Core §5.3.4 (1), §10.1',
    fault: {
      userinfo: async (c, op) =>
        createSignedUserInfo(op, CLIENT_ID_OF_CASES, c, {
          ...(await generateProviderKey('RS256')),
          kid: op.signing.kid,
        }),
    },
    expected: expectError('userinfo_invalid', true, true),
  },
  {
    name: 'UserInfo signed, without iss and aud',
    ref: 'OIDC Core §5.3.2 (a signed response MUST contain iss and aud)',
    fault: {
      userinfo: (c, op) =>
        createSignedUserInfo(op, CLIENT_ID_OF_CASES, c, op.signing, {
          iss: undefined,
          aud: undefined,
        }),
    },
    expected: expectError('userinfo_invalid', true, true),
  },
  {
    name: 'UserInfo signed, for another client (aud)',
    ref: 'OIDC Core §5.3.2 (aud MUST be or include the client_id)',
    fault: {
      userinfo: (c, op) =>
        createSignedUserInfo(op, CLIENT_ID_OF_CASES, c, op.signing, { aud: UNTRUSTED_CLIENT }),
    },
    expected: expectError('userinfo_invalid', true, true),
  },

  // --- token response
  {
    name: 'token endpoint answers HTTP 500 with an HTML page',
    ref: 'RFC 6749 §5.1, §5.2',
    fault: {
      tokenResponse: () =>
        new RawResponse(
          500,
          'text/html',
          '<!doctype html><title>Oops</title><p>Internal Server Error</p>',
        ),
    },
    expected: expectError('invalid_token_response', true),
  },
  {
    name: 'token endpoint answers 200 with malformed JSON',
    ref: 'RFC 6749 §5.1 (application/json)',
    fault: {
      tokenResponse: () =>
        new RawResponse(200, 'application/json', '{"access_token":"abc","token_type":"Bearer",'),
    },
    expected: expectError('invalid_token_response', true),
  },
  {
    name: 'token endpoint answers 200 with a gzip bomb (16 KB that decode to 16 MB)',
    ref: 'RFC 9110 §8.4 (Content-Encoding); RFC 6749 §5.1',
    fault: {
      tokenResponse: () =>
        new RawResponse(200, 'application/json', gzipSync(Buffer.alloc(16 * 1024 * 1024)), {
          'content-encoding': 'gzip',
        }),
    },
    expected: expectError('invalid_token_response', true),
  },
  {
    name: 'token endpoint answers 200 with an HTML page',
    ref: 'RFC 6749 §5.1 (application/json)',
    fault: {
      tokenResponse: () => new RawResponse(200, 'text/html', '<html><body>Welcome!</body></html>'),
    },
    expected: expectError('invalid_token_response', true),
  },
  {
    name: 'token response without access_token',
    ref: 'RFC 6749 §5.1 (access_token REQUIRED)',
    fault: editTokenResponse((b) => {
      delete b.access_token;
    }),
    expected: expectError('invalid_token_response', true),
  },
  {
    name: 'token response without id_token',
    ref: 'OIDC Core §3.1.3.3 (id_token in the token response)',
    fault: editTokenResponse((b) => {
      delete b.id_token;
    }),
    expected: expectError('invalid_token_response', true),
  },
  {
    name: 'token response id_token is not a JWT',
    ref: 'OIDC Core §2 (ID token is a JWT)',
    fault: editTokenResponse((b) => {
      b.id_token = 'not-a-jwt';
    }),
    expected: ID_TOKEN_REJECTED,
  },
  {
    name: 'token response without token_type',
    ref: 'RFC 6749 §5.1 (token_type REQUIRED)',
    fault: editTokenResponse((b) => {
      delete b.token_type;
    }),
    expected: expectError('invalid_token_response', true),
  },
  {
    name: 'token response token_type is unknown ("mac")',
    ref: 'RFC 6749 §7.1 (a client MUST NOT use a token whose type it does not understand)',
    fault: editTokenResponse((b) => {
      b.token_type = 'mac';
    }),
    expected: expectError('invalid_token_response', true),
  },
  {
    name: 'token endpoint answers 400 invalid_grant',
    ref: 'RFC 6749 §5.2',
    fault: {
      tokenResponse: () =>
        new RawResponse(
          400,
          'application/json',
          JSON.stringify({ error: 'invalid_grant', error_description: 'code expired' }),
        ),
    },
    expected: expectError('code_rejected', true),
  },
  {
    name: 'token endpoint answers 401 invalid_client',
    ref: 'RFC 6749 §5.2; RFC 7523 §3.1',
    fault: {
      tokenResponse: () =>
        new RawResponse(401, 'application/json', JSON.stringify({ error: 'invalid_client' }), {
          'www-authenticate': 'Bearer',
        }),
    },
    expected: expectError('client_authentication_failed', true),
  },
  {
    name: 'token endpoint answers 401 unauthorized_client (Keycloak’s client refusal)',
    ref: 'RFC 6749 §5.2 (401 is client authentication)',
    fault: {
      tokenResponse: () =>
        new RawResponse(
          401,
          'application/json',
          JSON.stringify({
            error: 'unauthorized_client',
            error_description: 'Invalid client or Invalid client credentials',
          }),
        ),
    },
    expected: expectError('client_authentication_failed', true),
  },
  {
    name: 'token endpoint answers 403 with an empty body (a gateway refusing the client)',
    ref: 'RFC 6749 §5.2; issue 11 (reported as a probable client-authentication failure)',
    fault: { tokenResponse: () => new RawResponse(403, '', '') },
    expected: expectError('client_authentication_likely_failed', true),
    check: (outcome) => {
      const html = outcome.errorPage?.body ?? '';
      expectTrue(html.includes('data-testid="client-auth-hints"'), 'the hints are on the page');
      expectTrue(html.includes('npm run doctor'), 'the page points to npm run doctor');
    },
  },
  {
    name: 'token endpoint answers 400 with an HTML error page',
    ref: 'RFC 6749 §5.2 (application/json); issue 11',
    fault: {
      tokenResponse: () =>
        new RawResponse(400, 'text/html', '<!doctype html><title>Bad Request</title><p>Denied</p>'),
    },
    expected: expectError('client_authentication_likely_failed', true),
  },
  {
    name: 'token endpoint error_description carries HTML',
    ref: 'RFC 6749 §5.2 (error_description is human-readable text)',
    fault: {
      tokenResponse: () =>
        new RawResponse(
          400,
          'application/json',
          JSON.stringify({
            error: 'invalid_request',
            error_description: '<img src=x onerror=alert(1)><script>alert(2)</script>',
          }),
        ),
    },
    expected: expectError('token_request_failed', true),
    check: (outcome) => {
      const html = outcome.errorPage?.body ?? '';
      expectTrue(
        html.includes('&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;'),
        'error_description shown as escaped text',
      );
      expectTrue(
        !html.includes('<img src=x') && !html.includes('<script>alert(2)'),
        'no provider markup in the page',
      );
    },
  },
];

/**
 * Cases for a second provider: it signs with ES256 (the app is registered for ES256), does not
 * advertise RFC 9207 `iss`, and the app gives up on it after a short OIDC_HTTP_TIMEOUT_MS.
 */
export function secondaryCases(timeoutMs: number): readonly FaultCase[] {
  const bounded = (outcome: Outcome) => {
    expectTrue(
      outcome.callbackMs < timeoutMs * 3 + 2000,
      `the app gave up in ${outcome.callbackMs} ms (timeout ${timeoutMs} ms)`,
    );
    expectTrue(
      outcome.callbackMs >= timeoutMs * 0.9,
      `the app waited for the timeout (${outcome.callbackMs} ms)`,
    );
  };
  return [
    {
      name: 'ES256 provider: conformant sign-in',
      ref: 'OIDC Registration id_token_signed_response_alg; fapi2-…-client-test-happy-path',
      expected: { session: true },
    },
    {
      name: 'ES256 provider: ID token with a bad signature',
      ref: 'OIDC Core §3.1.3.7 (6); oidcc-client-test-invalid-sig-es256',
      fault: { signedIdToken: (jwt) => corruptSignature(jwt) },
      expected: ID_TOKEN_REJECTED,
    },
    {
      name: 'ES256 provider: ID token signed with RS256 by a published key',
      ref: 'OIDC Core §3.1.3.7 (7); fapi2-…-invalid-alternate-alg',
      ...signWithPublishedKeyOf('RS256'),
      expected: ID_TOKEN_REJECTED,
    },
    {
      name: 'no RFC 9207 support advertised: response without iss',
      ref: 'RFC 9207 §2.4 (iss not required when not advertised)',
      fault: responseIss(undefined),
      expected: { session: true },
    },
    {
      name: 'no RFC 9207 support advertised: iss names another issuer',
      ref: 'RFC 9207 §2.4 (an iss that is present is always checked)',
      fault: responseIss('https://attacker.example'),
      expected: expectError('issuer_mismatch', NOT_REDEEMED),
    },
    {
      name: 'token endpoint never answers',
      ref: 'OIDC_HTTP_TIMEOUT_MS (bounded wait on every provider call)',
      fault: { tokenResponse: () => NEVER },
      expected: expectError('provider_unreachable', true),
      check: bounded,
    },
    {
      name: 'token endpoint sends headers, then stalls mid-body',
      ref: 'OIDC_HTTP_TIMEOUT_MS',
      fault: { tokenResponse: () => STALL_BODY },
      expected: expectError('provider_unreachable', true),
      check: bounded,
    },
    {
      name: 'UserInfo never answers',
      ref: 'OIDC_HTTP_TIMEOUT_MS',
      fault: { userinfo: () => NEVER },
      expected: expectError('provider_unreachable', true, true),
      check: bounded,
    },
    {
      name: 'JWKS never answers while the provider rotates its key',
      ref: 'OIDC_HTTP_TIMEOUT_MS; OIDC Core §10.1.1',
      fault: {
        beforeSigning: async (op) => {
          await op.rotate();
          op.jwksOverride = NEVER;
        },
      },
      cleanup: (ctx) => {
        ctx.op.jwksOverride = undefined;
      },
      expected: expectError('provider_unreachable', true),
      check: bounded,
    },
  ];
}

function claimsOfJwt(jwt: string | null | undefined): Record<string, unknown> {
  const payload = (jwt ?? '').split('.')[1] ?? '';
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** A PAR answer replaced by `override`: the sign-in must end at /auth/login, no code issued. */
function failPar(override: RawResponse | typeof NEVER): Pick<FaultCase, 'run'> {
  return { run: (ctx) => signInFailingAtLogin(ctx.appUrl, ctx.op, { par: () => override }) };
}

/**
 * The FAPI 2.0 RP cases that apply to this client (the OpenID Foundation's FAPI 2.0 Security
 * Profile RP plan, `fapi2-security-profile-final-client-test-*`, and RFC 9126 / RFC 9449 / RFC
 * 9207), against a provider in FAPI 2.0 mode (PAR required, DPoP), the app with
 * OIDC_PROFILE=fapi2 signing ES256.
 */
export function fapi2Cases(): FaultCase[] {
  return [
    {
      name: 'FAPI 2.0 provider: conformant sign-in through PAR with DPoP-bound tokens',
      ref:
        'FAPI 2.0 §5.3; RFC 9126 §2, §4; RFC 9449 §5, §7; ' +
        'fapi2-security-profile-final-client-test (happy path)',
      expected: { session: true },
      check: (outcome, ctx) => {
        const query = outcome.authorization?.query;
        expectTrue(
          [...(query?.keys() ?? [])].sort().join(' ') === 'client_id request_uri',
          `the browser URL carries client_id and request_uri only (got ${[...(query?.keys() ?? [])].join(' ')})`,
        );
        const pushed = ctx.op.parRequests.at(-1);
        expectTrue(pushed?.status === 201, 'the request was pushed');
        const params = pushed?.params;
        expectTrue(
          params?.get('code_challenge_method') === 'S256',
          'PKCE S256 in the pushed request',
        );
        expectTrue(
          claimsOfJwt(params?.get('client_assertion')).aud === ctx.op.issuer,
          'the PAR request is authenticated by an assertion whose aud is the issuer',
        );
        expectTrue(pushed?.dpop !== undefined, 'a DPoP proof on the PAR request binds the code');
        const token = ctx.op.redemptionsOf(outcome.authorization?.code)[0];
        expectTrue(token?.dpop !== undefined, 'a DPoP proof on the token request');
        const proof = claimsOfJwt(token?.dpop);
        expectTrue(proof.htu === `${ctx.op.issuer}/token` && proof.htm === 'POST', 'proof htm/htu');
        const userinfoProof = claimsOfJwt(ctx.op.userinfoProofs.at(-1));
        expectTrue(typeof userinfoProof.ath === 'string', 'UserInfo called with DPoP (ath)');
      },
    },
    {
      name: 'FAPI 2.0: token_type in odd case ("dPoP")',
      ref: 'RFC 6749 §5.1 (case-insensitive); fapi2-…-client-test token_type case',
      fault: editTokenResponse((b) => {
        b.token_type = 'dPoP';
      }),
      expected: { session: true },
    },
    {
      name: 'FAPI 2.0: authorization response iss names another issuer',
      ref: 'RFC 9207 §2.4; fapi2-security-profile-final-client-test-invalid-iss',
      fault: responseIss('https://op.attacker.example'),
      expected: expectError('issuer_mismatch', NOT_REDEEMED),
    },
    {
      name: 'FAPI 2.0: authorization response without iss',
      ref:
        'RFC 9207 §2.4; FAPI 2.0 requires iss; ' +
        'fapi2-security-profile-final-client-test-remove-authorization-response-iss',
      fault: responseIss(undefined),
      expected: expectError('issuer_mismatch', NOT_REDEEMED),
    },
    {
      name: 'PAR endpoint answers 400 invalid_request',
      ref: 'RFC 9126 §2.3 (error response)',
      ...failPar(
        new RawResponse(
          400,
          'application/json',
          JSON.stringify({
            error: 'invalid_request',
            error_description: 'redirect_uri not allowed',
          }),
        ),
      ),
      expected: expectError('par_request_failed', NOT_REDEEMED),
      check: (outcome) => {
        expectTrue(outcome.authorization === undefined, 'no authorization request was made');
        expectTrue(
          (outcome.errorPage?.body ?? '').includes('invalid_request'),
          'the OAuth error is on the page',
        );
      },
    },
    {
      name: 'PAR endpoint answers 401 invalid_client',
      ref: 'RFC 9126 §2.3; RFC 6749 §5.2; RFC 10070 (PAR client authentication)',
      ...failPar(
        new RawResponse(401, 'application/json', JSON.stringify({ error: 'invalid_client' }), {
          'www-authenticate': 'Bearer error="invalid_client"',
        }),
      ),
      expected: expectError('client_authentication_failed', NOT_REDEEMED),
    },
    {
      name: 'PAR endpoint answers 201 without request_uri',
      ref: 'RFC 9126 §2.2 (request_uri REQUIRED)',
      ...failPar(new RawResponse(201, 'application/json', JSON.stringify({ expires_in: 60 }))),
      expected: expectError('par_request_failed', NOT_REDEEMED),
    },
    {
      name: 'PAR endpoint answers HTTP 500 with an HTML page',
      ref: 'RFC 9126 §2.2, §2.3',
      ...failPar(
        new RawResponse(500, 'text/html', '<html><body>Internal Server Error</body></html>'),
      ),
      expected: expectError('par_request_failed', NOT_REDEEMED),
    },
    {
      name: 'PAR endpoint never answers',
      ref: 'operational: bounded by OIDC_HTTP_TIMEOUT_MS',
      ...failPar(NEVER),
      expected: expectError('provider_unreachable', NOT_REDEEMED),
    },
    {
      name: 'token response token_type Bearer although DPoP was used',
      ref: 'RFC 9449 §5 (token_type DPoP); fapi2-…-client-test (sender-constrained tokens)',
      fault: editTokenResponse((b) => {
        b.token_type = 'Bearer';
      }),
      expected: expectError('dpop_binding_invalid', true),
    },
    {
      name: 'access token cnf.jkt names another key',
      ref: 'RFC 9449 §6.1 (cnf.jkt = thumbprint of the proof key)',
      fault: {
        accessToken: (c) => {
          c.cnf = { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' };
        },
      },
      expected: expectError('dpop_binding_invalid', true),
    },
    {
      name: 'DPoP access token without cnf',
      ref: 'RFC 9449 §6.1',
      fault: {
        accessToken: (c) => {
          delete c.cnf;
        },
      },
      expected: expectError('dpop_binding_invalid', true),
    },
    {
      name: 'token endpoint demands a DPoP nonce: one retry, a new proof and a new assertion',
      ref: 'RFC 9449 §8; FAPI 2.0 (DPoP nonces); fapi2-…-client-test-dpop-nonce',
      fault: { tokenNonce: 'once' },
      expected: { session: true },
      check: (outcome, ctx) => {
        expectTrue(outcome.redemptions === 2, `two token requests (got ${outcome.redemptions})`);
        checkNonceRetry(ctx, outcome);
      },
    },
    {
      name: 'UserInfo demands a DPoP nonce: one retry with it',
      ref: 'RFC 9449 §9 (resource server nonce)',
      fault: { userinfoNonce: true },
      expected: { session: true },
      check: (outcome, ctx) => {
        expectTrue(
          outcome.userinfoCalls === 2,
          `two UserInfo requests (got ${outcome.userinfoCalls})`,
        );
        const [first, second] = ctx.op.userinfoProofs.slice(-2).map(claimsOfJwt);
        expectTrue(first?.nonce === undefined, 'the first proof has no nonce');
        expectTrue(typeof second?.nonce === 'string', 'the retry carries the nonce');
        expectTrue(first?.jti !== second?.jti, 'a new proof');
      },
    },
    {
      name: 'token endpoint demands a new DPoP nonce every time: exactly one retry, then the error',
      ref: 'RFC 9449 §8 (a client retries once)',
      fault: { tokenNonce: 'always' },
      expected: expectError('token_request_failed', true),
      check: (outcome) => {
        expectTrue(
          outcome.redemptions === 2,
          `two token requests, no more (got ${outcome.redemptions})`,
        );
      },
    },
  ];
}

/** The two token requests of a nonce retry: distinct assertions and proofs, the nonce in the second. */
export function checkNonceRetry(ctx: CaseContext, outcome: Outcome): void {
  const [first, second] = ctx.op.redemptionsOf(outcome.authorization?.code);
  const assertion = (r: typeof first) => claimsOfJwt(r?.params.get('client_assertion'));
  expectTrue(first?.status === 400 && second?.status === 200, 'use_dpop_nonce, then success');
  expectTrue(assertion(first).jti !== assertion(second).jti, 'a new client assertion (jti)');
  expectTrue(claimsOfJwt(first?.dpop).jti !== claimsOfJwt(second?.dpop).jti, 'a new proof');
  expectTrue(claimsOfJwt(first?.dpop).nonce === undefined, 'the first proof has no nonce');
  expectTrue(typeof claimsOfJwt(second?.dpop).nonce === 'string', 'the retry carries the nonce');
}
