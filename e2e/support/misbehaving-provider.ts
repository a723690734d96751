import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import {
  base64url,
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';

/**
 * A programmable OpenID Provider for tests: it signs every user in at once and can be told to get
 * exactly one thing wrong per sign-in, the way the OpenID Foundation's RP conformance tests do.
 *
 * It answers discovery, authorize (auto-approves and redirects back with `code`, `state` and RFC
 * 9207 `iss`), token, jwks, userinfo and end_session, over plain node:http. It checks nothing it
 * does not need (no client authentication, no PKCE, no redirect URI registration): the system
 * under test is the relying party. It records every request that matters, so tests can assert
 * what the relying party did, above all whether an authorization code was ever redeemed, and it
 * keeps every secret it issued or received so that logs can be searched for them.
 *
 * A test arms a {@link Fault} before a sign-in; the authorization request binds it to the code it
 * issues, and the token and UserInfo requests for that code misbehave accordingly.
 *
 * In FAPI 2.0 mode (`fapi2: true`) it also takes pushed authorization requests (RFC 9126) and
 * DPoP (RFC 9449): a token request with a proof gets a JWT access token bound to the proof's key
 * (`cnf.jkt`, `token_type` DPoP), and the token endpoint and UserInfo can demand a server nonce.
 * A PAR fault must be armed before the sign-in starts (the push happens at /auth/login).
 */

export type SigningAlg = 'RS256' | 'PS256' | 'ES256';

export type ProviderKey = {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
};

/** A whole HTTP response, for faults that replace what an endpoint would answer. */
export class RawResponse<Body extends string | Uint8Array = string | Uint8Array> {
  constructor(
    readonly status: number,
    readonly contentType: string,
    /** Sent as it is (bytes: a body with a content coding, say). */
    readonly body: Body,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

/** The endpoint keeps the connection open and never answers. */
export const NEVER = 'never' as const;
/** The endpoint sends its status and headers, a few bytes of body, and then nothing more. */
export const STALL_BODY = 'stall-body' as const;

type Override = RawResponse | typeof NEVER | typeof STALL_BODY;

export type IdTokenDraft = {
  header: JWTHeaderParameters & Record<string, unknown>;
  claims: JWTPayload & Record<string, unknown>;
  /** The key that will sign (defaults to the current signing key). */
  key: ProviderKey;
};

/** What one authorization (and the requests for its code) does differently. */
export type Fault = {
  /** Edits the parameters of the redirect back to the client. */
  readonly authorizationResponse?: (params: URLSearchParams, op: MisbehavingProvider) => void;
  /** Runs in the token request, before the ID token is built (e.g. a key rotation). */
  readonly beforeSigning?: (op: MisbehavingProvider) => Promise<void>;
  /** Edits the ID token's header, claims or signing key before it is signed. */
  readonly idToken?: (draft: IdTokenDraft, op: MisbehavingProvider) => void | Promise<void>;
  /** Replaces the signed ID token (broken signatures, `alg: none`, …). */
  readonly signedIdToken?: (
    jwt: string,
    draft: IdTokenDraft,
    op: MisbehavingProvider,
  ) => string | Promise<string>;
  /** Edits the token response JSON, or replaces the whole response. */
  readonly tokenResponse?: (body: Record<string, unknown>) => Record<string, unknown> | Override;
  /** Edits the UserInfo JSON, or replaces the whole response (a signed one, say). */
  readonly userinfo?: (
    claims: Record<string, unknown>,
    op: MisbehavingProvider,
  ) => Record<string, unknown> | Override | Promise<Record<string, unknown> | Override>;
  /** Replaces the PAR endpoint's answer (FAPI 2.0 mode; arm before the sign-in starts). */
  readonly par?: (params: URLSearchParams) => Override;
  /** Edits the claims of the DPoP-bound JWT access token (`cnf`, …) before it is signed. */
  readonly accessToken?: (claims: Record<string, unknown>) => void;
  /**
   * The token endpoint demands a DPoP nonce (RFC 9449 §8): `once` accepts the one it handed out,
   * `always` hands out a new one each time and accepts none.
   */
  readonly tokenNonce?: 'once' | 'always';
  /** UserInfo demands a DPoP nonce of its own (RFC 9449 §9), once. */
  readonly userinfoNonce?: boolean;
};

export type AuthorizationRecord = {
  /** The request's parameters: the pushed ones when it came by `request_uri` (RFC 9126). */
  readonly params: URLSearchParams;
  /** What the browser's URL carried. */
  readonly query: URLSearchParams;
  /** The code issued, when the response carried one. */
  readonly code: string | undefined;
  /** Where the browser was sent. */
  readonly redirect: string;
};

export type TokenRequestRecord = {
  readonly params: URLSearchParams;
  readonly code: string | undefined;
  readonly status: number;
  /** The DPoP proof sent with it (RFC 9449), when there was one. */
  readonly dpop?: string | undefined;
};

/** One pushed authorization request (RFC 9126). */
export type ParRecord = {
  readonly params: URLSearchParams;
  readonly dpop: string | undefined;
  readonly status: number;
};

export type ProviderOptions = {
  readonly port: number;
  /** Path of the issuer identifier under the origin, e.g. `/op`. */
  readonly issuerPath?: string;
  readonly signingAlg?: SigningAlg;
  /** Metadata `authorization_response_iss_parameter_supported` (RFC 9207 §3). Default true. */
  readonly advertiseIssParameter?: boolean;
  /** The `issuer` the discovery document declares, when it must differ from the real one. */
  readonly declaredIssuer?: string;
  /** The end-user every sign-in authenticates. */
  readonly user?: Readonly<Record<string, unknown>> & { readonly sub: string };
  /** FAPI 2.0 mode: a PAR endpoint (required) and DPoP. */
  readonly fapi2?: boolean;
};

type Grant = {
  readonly fault: Fault;
  readonly params: URLSearchParams;
  readonly sub: string;
  readonly userClaims: Readonly<Record<string, unknown>>;
  redeemed: boolean;
  /** The DPoP nonces this grant's token request and UserInfo accept, once handed out. */
  tokenNonce?: string | undefined;
  userinfoNonce?: string | undefined;
};

const DEFAULT_USER = {
  sub: 'rogue-user-7',
  name: 'Mallory Tester',
  email: 'mallory@op.test',
  email_verified: true,
  preferred_username: 'mallory',
} as const;

function generateToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** A new signing key with an RFC 7638 thumbprint `kid`. */
export async function generateProviderKey(alg: SigningAlg): Promise<ProviderKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'ES256' ? {} : { modulusLength: 2048 }),
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return {
    kid,
    alg,
    privateJwk: await exportJWK(privateKey),
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
  };
}

/** Signs `claims` with `key` under `header` (jose; the header is taken as given). */
export function signJwt(
  header: JWTHeaderParameters & Record<string, unknown>,
  claims: JWTPayload,
  key: ProviderKey | JWK | Uint8Array,
): Promise<string> {
  const material = key instanceof Uint8Array ? key : 'privateJwk' in key ? key.privateJwk : key;
  return new SignJWT(claims)
    .setProtectedHeader(header)
    .sign(material as Parameters<SignJWT['sign']>[0]);
}

/** An unsecured JWT (`alg: none`, RFC 7519 §6): header and claims, empty signature. */
export function createUnsecuredJwt(claims: JWTPayload): string {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}

/**
 * A signed UserInfo response (`application/jwt`, OIDC Core §5.3.2): the claims plus `iss` and
 * `aud` (= `clientId`), signed by `key` (the provider's signing key unless told otherwise).
 * `overrides` set claims or, given `undefined`, remove them.
 */
export async function createSignedUserInfo(
  op: MisbehavingProvider,
  clientId: string,
  claims: Record<string, unknown>,
  key: ProviderKey = op.signing,
  overrides: Record<string, unknown> = {},
): Promise<RawResponse<string>> {
  const all: Record<string, unknown> = { iss: op.issuer, aud: clientId, ...claims };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete all[name];
    else all[name] = value;
  }
  const jwt = await signJwt({ alg: key.alg, kid: key.kid, typ: 'JWT' }, all, key);
  return new RawResponse(200, 'application/jwt', jwt);
}

/** The same JWT with one bit of its signature flipped. */
export function corruptSignature(jwt: string): string {
  const [header, payload, signature = ''] = jwt.split('.');
  const bytes = base64url.decode(signature);
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x01;
  return `${header}.${payload}.${base64url.encode(bytes)}`;
}

export class MisbehavingProvider {
  readonly origin: string;
  readonly issuer: string;
  readonly jwksPath: string;
  readonly signingAlg: SigningAlg;
  readonly user: Readonly<Record<string, unknown>> & { readonly sub: string };

  /** Every authorization request, in order. */
  readonly authorizations: AuthorizationRecord[] = [];
  /** Every token request, in order, including those for unknown or used codes. */
  readonly tokenRequests: TokenRequestRecord[] = [];
  /** Every UserInfo request (its access token). */
  readonly userinfoRequests: string[] = [];
  /** The DPoP proof of each UserInfo request, in the same order. */
  readonly userinfoProofs: Array<string | undefined> = [];
  /** Every pushed authorization request (FAPI 2.0 mode). */
  readonly parRequests: ParRecord[] = [];
  /** Every end_session request. */
  readonly endSessionRequests: URLSearchParams[] = [];
  /** How often the JWKS was served. */
  jwksFetches = 0;
  /** Every refresh grant (`grant_type=refresh_token`), in order. */
  readonly refreshRequests: URLSearchParams[] = [];
  /**
   * Answers refresh grants when set: a token response body, or a whole response. Unset, a
   * refresh grant is refused with `invalid_grant`.
   */
  refreshGrant:
    | ((
        params: URLSearchParams,
        op: MisbehavingProvider,
      ) => Record<string, unknown> | Override | Promise<Record<string, unknown> | Override>)
    | undefined;
  /**
   * Every request to `<issuer>/revoke` (RFC 7009), in order. The endpoint is advertised only
   * when a test puts `revocation_endpoint` in {@link MisbehavingProvider.metadataOverrides}.
   */
  readonly revocationRequests: URLSearchParams[] = [];
  /** Answer revocation requests this way instead (200 with an empty body otherwise). */
  revocationOverride: Override | undefined;

  /** Keys in the JWKS, in order. */
  published: ProviderKey[];
  /** The key ID tokens are signed with. */
  signing: ProviderKey;
  /** Answer JWKS requests this way instead (e.g. {@link NEVER}). */
  jwksOverride: Override | undefined;
  /** Members that replace the discovery document's (e.g. an http end_session_endpoint). */
  metadataOverrides: Record<string, unknown> = {};

  private armed: Fault = {};
  private readonly grants = new Map<string, Grant>();
  private readonly pushed = new Map<string, URLSearchParams>();
  private readonly accessTokens = new Map<string, Grant>();
  private readonly secrets = new Set<string>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly options: ProviderOptions;

  private constructor(options: ProviderOptions, key: ProviderKey) {
    this.options = options;
    this.origin = `http://localhost:${options.port}`;
    this.issuer = `${this.origin}${options.issuerPath ?? ''}`;
    // Not the usual path: the relying party must take jwks_uri from discovery (Config RP
    // oidcc-client-test-discovery-jwks-uri-keys).
    this.jwksPath = `${options.issuerPath ?? ''}/keys-${generateToken(6)}`;
    this.signingAlg = options.signingAlg ?? 'RS256';
    this.user = options.user ?? DEFAULT_USER;
    this.published = [key];
    this.signing = key;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent)
          this.json(res, 500, { error: 'server_error', error_description: String(err) });
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Starts a provider on `localhost:port`. */
  static async start(options: ProviderOptions): Promise<MisbehavingProvider> {
    const op = new MisbehavingProvider(
      options,
      await generateProviderKey(options.signingAlg ?? 'RS256'),
    );
    await new Promise<void>((done, fail) => {
      op.server.once('error', fail);
      op.server.listen(options.port, 'localhost', () => done());
    });
    return op;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((done) => this.server.close(() => done()));
  }

  /** The fault the next authorization request binds to its code (one sign-in). */
  arm(fault: Fault): void {
    this.armed = fault;
  }

  /** Replaces the published keys with one new key and signs with it. */
  async rotate(alg: SigningAlg = this.signingAlg): Promise<ProviderKey> {
    const key = await generateProviderKey(alg);
    this.published = [key];
    this.signing = key;
    return key;
  }

  /** Token requests that carried `code`. */
  redemptionsOf(code: string | undefined): TokenRequestRecord[] {
    return code === undefined ? [] : this.tokenRequests.filter((r) => r.code === code);
  }

  /** Everything secret this provider issued or received: codes, tokens, client assertions, PKCE verifiers. */
  issuedSecrets(): string[] {
    return [...this.secrets];
  }

  private keep(value: string | null | undefined): void {
    if (value) this.secrets.add(value);
  }

  private json(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  private send(res: ServerResponse, override: Override): void {
    if (override === NEVER) return;
    if (override === STALL_BODY) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"access_token":"');
      return;
    }
    // An empty content type sends none (an empty 403 from a gateway has none).
    res.writeHead(override.status, {
      ...(override.contentType ? { 'content-type': override.contentType } : {}),
      ...override.headers,
    });
    res.end(override.body);
  }

  private async readForm(req: IncomingMessage): Promise<URLSearchParams> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  }

  private metadata(): Record<string, unknown> {
    const base = this.issuer;
    return {
      issuer: this.options.declaredIssuer ?? this.issuer,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      userinfo_endpoint: `${base}/userinfo`,
      end_session_endpoint: `${base}/end_session`,
      jwks_uri: `${this.origin}${this.jwksPath}`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code'],
      subject_types_supported: ['public'],
      scopes_supported: ['openid', 'profile', 'email'],
      code_challenge_methods_supported: ['S256'],
      id_token_signing_alg_values_supported: [this.signingAlg],
      // Signed UserInfo responses (application/jwt) are possible, as at most providers.
      userinfo_signing_alg_values_supported: [this.signingAlg],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      claims_supported: [
        'sub',
        'iss',
        'aud',
        'exp',
        'iat',
        'nonce',
        'name',
        'email',
        'email_verified',
        'preferred_username',
      ],
      authorization_response_iss_parameter_supported: this.options.advertiseIssParameter ?? true,
      ...(this.options.fapi2
        ? {
            pushed_authorization_request_endpoint: `${base}/par`,
            require_pushed_authorization_requests: true,
            dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'PS256'],
          }
        : {}),
      ...this.metadataOverrides,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const prefix = this.options.issuerPath ?? '';
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname;
    if (url.pathname === this.jwksPath) return this.jwks(res);
    switch (path) {
      case '/.well-known/openid-configuration':
        return this.json(res, 200, this.metadata());
      case '/authorize':
        return this.authorize(url.searchParams, res);
      case '/par':
        return this.par(await this.readForm(req), req, res);
      case '/token':
        return this.token(await this.readForm(req), req, res);
      case '/userinfo':
        return this.userinfo(req, res);
      case '/revoke':
        return this.revoke(await this.readForm(req), res);
      case '/end_session':
        return this.endSession(url.searchParams, res);
      case '/':
        // A plain, frameable page (tests use it as the control when checking framing).
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><title>Misbehaving provider</title><h1>Misbehaving provider</h1>');
        return;
      default:
        return this.json(res, 404, { error: 'not_found' });
    }
  }

  private jwks(res: ServerResponse): void {
    this.jwksFetches += 1;
    if (this.jwksOverride) return this.send(res, this.jwksOverride);
    this.json(
      res,
      200,
      { keys: this.published.map((k) => k.publicJwk) },
      { 'cache-control': 'public, max-age=300' },
    );
  }

  /** RFC 9126 §2: stores the request, answers 201 with a one-time `request_uri`. */
  private par(params: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    this.keep(params.get('client_assertion'));
    const dpop = req.headers.dpop;
    const proof = typeof dpop === 'string' ? dpop : undefined;
    this.keep(proof);
    const override = this.armed.par?.(params);
    if (override) {
      this.parRequests.push({
        params,
        dpop: proof,
        status: override instanceof RawResponse ? override.status : 0,
      });
      return this.send(res, override);
    }
    const requestUri = `urn:ietf:params:oauth:request_uri:${generateToken(16)}`;
    this.pushed.set(requestUri, params);
    this.parRequests.push({ params, dpop: proof, status: 201 });
    this.json(res, 201, { request_uri: requestUri, expires_in: 60 });
  }

  private authorize(query: URLSearchParams, res: ServerResponse): void {
    // RFC 9126 §4: a pushed request is used once, by reference.
    const requestUri = query.get('request_uri');
    const pushed = requestUri === null ? undefined : this.pushed.get(requestUri);
    if (requestUri !== null) this.pushed.delete(requestUri);
    const params = pushed ?? query;
    const fault = this.armed;
    this.armed = {};
    const redirectUri = params.get('redirect_uri') ?? '';
    const code = generateToken();
    this.keep(code);
    this.grants.set(code, {
      fault,
      params,
      sub: this.user.sub,
      userClaims: this.user,
      redeemed: false,
    });
    const response = new URLSearchParams({ code });
    const state = params.get('state');
    if (state !== null) response.set('state', state);
    response.set('iss', this.issuer);
    fault.authorizationResponse?.(response, this);
    const target = new URL(redirectUri);
    target.search = response.toString();
    this.authorizations.push({
      params,
      query,
      code: response.getAll('code').includes(code) ? code : undefined,
      redirect: target.href,
    });
    res.writeHead(303, { location: target.href, 'cache-control': 'no-store' });
    res.end();
  }

  private async token(
    params: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const code = params.get('code') ?? undefined;
    this.keep(params.get('client_assertion'));
    this.keep(params.get('code_verifier'));
    const dpopHeader = req.headers.dpop;
    const proof = typeof dpopHeader === 'string' ? dpopHeader : undefined;
    this.keep(proof);
    const grant = code === undefined ? undefined : this.grants.get(code);
    const record = (status: number) =>
      this.tokenRequests.push({ params, code, status, dpop: proof });
    // RFC 9449 §8: a nonce demanded before anything else is decided (the code stays unused).
    if (grant && !grant.redeemed && grant.fault.tokenNonce && proof) {
      const nonce = decodeJwt(proof).nonce;
      if (
        grant.fault.tokenNonce === 'always' ||
        nonce === undefined ||
        nonce !== grant.tokenNonce
      ) {
        grant.tokenNonce = generateToken(12);
        record(400);
        return this.json(
          res,
          400,
          {
            error: 'use_dpop_nonce',
            error_description: 'Authorization server requires nonce in DPoP proof',
          },
          { 'dpop-nonce': grant.tokenNonce },
        );
      }
    }
    if (params.get('grant_type') === 'refresh_token') {
      this.refreshRequests.push(params);
      this.keep(params.get('refresh_token'));
      const answer = this.refreshGrant
        ? await this.refreshGrant(params, this)
        : { error: 'invalid_grant', error_description: 'refresh tokens are not armed' };
      if (typeof answer === 'string' || answer instanceof RawResponse) {
        record(answer instanceof RawResponse ? answer.status : 0);
        return this.send(res, answer);
      }
      const status = typeof answer.error === 'string' ? 400 : 200;
      record(status);
      for (const name of ['access_token', 'refresh_token', 'id_token'])
        if (typeof answer[name] === 'string') this.keep(answer[name]);
      return this.json(res, status, answer);
    }
    if (!grant || grant.redeemed || params.get('grant_type') !== 'authorization_code') {
      record(400);
      return this.json(res, 400, {
        error: 'invalid_grant',
        error_description: 'unknown or used authorization code',
      });
    }
    grant.redeemed = true;
    const { fault } = grant;
    await fault.beforeSigning?.(this);
    const now = Math.floor(Date.now() / 1000);
    const draft: IdTokenDraft = {
      header: { alg: this.signing.alg, kid: this.signing.kid, typ: 'JWT' },
      claims: {
        iss: this.issuer,
        sub: grant.sub,
        aud: params.get('client_id') ?? grant.params.get('client_id') ?? '',
        exp: now + 300,
        iat: now,
        auth_time: now,
        ...(grant.params.get('nonce') ? { nonce: grant.params.get('nonce') ?? '' } : {}),
        name: grant.userClaims.name,
      },
      key: this.signing,
    };
    await fault.idToken?.(draft, this);
    let idToken = await signJwt(draft.header, draft.claims, draft.key);
    if (fault.signedIdToken) idToken = await fault.signedIdToken(idToken, draft, this);
    // With a DPoP proof: a JWT access token bound to the proof's key (RFC 9449 §6.1).
    const accessToken = proof ? await this.signDpopBoundToken(proof, grant, now) : generateToken();
    this.keep(accessToken);
    this.keep(idToken);
    this.accessTokens.set(accessToken, grant);
    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: proof ? 'DPoP' : 'Bearer',
      expires_in: 300,
      scope: grant.params.get('scope') ?? 'openid',
      id_token: idToken,
    };
    const answer = fault.tokenResponse ? fault.tokenResponse(body) : body;
    if (typeof answer === 'string' || answer instanceof RawResponse) {
      record(answer instanceof RawResponse ? answer.status : 0);
      return this.send(res, answer);
    }
    record(200);
    this.json(res, 200, answer);
  }

  /** An RFC 9068 access token bound to the key of `proof` (`cnf.jkt`), edited by the fault. */
  private async signDpopBoundToken(proof: string, grant: Grant, now: number): Promise<string> {
    let jkt = 'unreadable-proof';
    try {
      jkt = await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK);
    } catch {
      // leave the marker: the app will refuse the binding
    }
    const claims: Record<string, unknown> = {
      iss: this.issuer,
      sub: grant.sub,
      aud: `${this.issuer}/userinfo`,
      client_id: grant.params.get('client_id') ?? '',
      scope: grant.params.get('scope') ?? 'openid',
      jti: generateToken(12),
      iat: now,
      exp: now + 300,
      cnf: { jkt },
    };
    grant.fault.accessToken?.(claims);
    return signJwt(
      { alg: this.signing.alg, kid: this.signing.kid, typ: 'at+jwt' },
      claims,
      this.signing,
    );
  }

  private async userinfo(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = /^(?:Bearer|DPoP) (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const dpop = req.headers.dpop;
    const proof = typeof dpop === 'string' ? dpop : undefined;
    this.keep(proof);
    this.userinfoRequests.push(token);
    this.userinfoProofs.push(proof);
    const grant = this.accessTokens.get(token);
    if (!grant) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
      res.end();
      return;
    }
    // RFC 9449 §9: a nonce of UserInfo's own, demanded once.
    if (grant.fault.userinfoNonce && proof) {
      const nonce = decodeJwt(proof).nonce;
      if (grant.userinfoNonce === undefined || nonce !== grant.userinfoNonce) {
        grant.userinfoNonce ??= generateToken(12);
        res.writeHead(401, {
          'www-authenticate':
            'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
          'dpop-nonce': grant.userinfoNonce,
        });
        res.end();
        return;
      }
    }
    const claims: Record<string, unknown> = { ...grant.userClaims, sub: grant.sub };
    const answer = grant.fault.userinfo ? await grant.fault.userinfo(claims, this) : claims;
    if (typeof answer === 'string' || answer instanceof RawResponse) return this.send(res, answer);
    this.json(res, 200, answer);
  }

  /** RFC 7009 §2.2: 200 for any token, known or not, unless told otherwise. */
  private revoke(params: URLSearchParams, res: ServerResponse): void {
    this.keep(params.get('client_assertion'));
    this.revocationRequests.push(params);
    if (this.revocationOverride) return this.send(res, this.revocationOverride);
    res.writeHead(200, { 'cache-control': 'no-store' });
    res.end();
  }

  private endSession(params: URLSearchParams, res: ServerResponse): void {
    this.endSessionRequests.push(params);
    const target = params.get('post_logout_redirect_uri');
    if (!target) return this.json(res, 200, { signed_out: true });
    res.writeHead(303, { location: target, 'cache-control': 'no-store' });
    res.end();
  }
}
