import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

import { sealData, unsealData } from 'iron-session';
import type { Redis as RedisClient } from 'ioredis';
import { createRemoteJWKSet, decodeJwt, importJWK, jwtVerify, type JWK } from 'jose';
import * as client from 'openid-client';

/**
 * The benchmark's floor: a relying party on plain `node:http` and openid-client 6 doing the
 * protocol work of the app and nothing else. Per sign-in: PKCE, state and nonce in a sealed
 * transaction cookie, and the app's authorization request (its scopes, the API's scope and its
 * `resource`, RFC 8707: the provider issues the same grant); the code redeemed with a freshly
 * signed client assertion (RS256, `typ: client-authentication+jwt`, `aud` = issuer); the ID token's
 * claims (openid-client) and signature (jose, the provider's JWKS cached); UserInfo for the same
 * `sub`; the session (with the refresh token, when the provider issues one, as the app keeps it)
 * sealed into an HttpOnly cookie (iron-session). `GET /api/me` unseals it and answers the claims.
 *
 * Run by bench/stack.ts with Node's own type stripping (`node bench/floor/server.ts`), so that its
 * cold start is Node's, not a loader's. Loopback only. Settings:
 *   FLOOR_URL            its origin, e.g. http://localhost:3215 (listens there)
 *   OIDC_ISSUER          the provider
 *   OIDC_CLIENT_ID       its client id
 *   OIDC_CLIENT_KEY_FILE private JWK Set; the first key signs
 *   SESSION_SECRET       iron-session password (≥ 32 characters)
 *   API_RESOURCE         the API's resource indicator, asked for at sign-in as the app does
 *   API_SCOPE            the API's scope (default api1, the app's default)
 *   REDIS_URL            optional (`floor+redis`): sessions in Redis, with the app's round trips
 *
 * With REDIS_URL the floor keeps sessions as the app does with it (lib/redis-session-store.ts), so
 * that `app+redis` has a floor doing the same store work: the cookie holds only the sealed session
 * id; the callback pings the store before anything changes, ends this browser's earlier session
 * before the code is redeemed (one transaction: read and delete, then its index entries, not
 * awaited), and creates the new one in one transaction with the same writes (the session hash,
 * its expiry, the `sid` and `sub` indexes); `GET /api/me` reads it (HMGET). Nothing else: no time
 * limits, no outage handling. The round trips are the app's; the commands are those of MULTI/EXEC
 * transactions, as a plain relying party would send them, where the app sends each transaction as
 * one Lua script (23 commands per sign-in here; the app sends 5, which Redis counts as 20 with
 * those its scripts run).
 */

// The app's defaults (lib/config.ts: OIDC_SCOPES, API_SCOPE) and its resource indicator.
const SCOPE = `openid profile email ${process.env.API_SCOPE ?? 'api1'}`;
const RESOURCE = requireEnv('API_RESOURCE');
const TX_TTL = 600;
const SESSION_TTL = 8 * 60 * 60;

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const floorUrl = new URL(requireEnv('FLOOR_URL'));
if (!['localhost', '127.0.0.1', '[::1]'].includes(floorUrl.hostname))
  throw new Error('FLOOR_URL must be on loopback');
const issuer = new URL(requireEnv('OIDC_ISSUER'));
const clientId = requireEnv('OIDC_CLIENT_ID');
const password = requireEnv('SESSION_SECRET');
const redirectUri = new URL('/auth/callback', floorUrl).href;

const { keys } = JSON.parse(readFileSync(requireEnv('OIDC_CLIENT_KEY_FILE'), 'utf8')) as {
  keys: JWK[];
};
const jwk = keys[0];
if (!jwk?.kid) throw new Error('OIDC_CLIENT_KEY_FILE: the first key needs a kid');
const privateKey = (await importJWK(jwk, 'RS256')) as CryptoKey;

const config = await client.discovery(
  issuer,
  clientId,
  {
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'private_key_jwt',
    id_token_signed_response_alg: 'RS256',
  },
  client.PrivateKeyJwt(
    { key: privateKey, kid: jwk.kid },
    {
      [client.modifyAssertion]: (header) => {
        header.typ = 'client-authentication+jwt';
      },
    },
  ),
  { execute: [client.allowInsecureRequests] },
);
const jwksUri = config.serverMetadata().jwks_uri;
if (!jwksUri) throw new Error('the provider has no jwks_uri');
const providerKeys = createRemoteJWKSet(new URL(jwksUri));

const redisUrl = process.env.REDIS_URL;
// Connects in the background, as the app's store does; commands sent before that wait for it.
const redis: RedisClient | undefined = redisUrl
  ? new (await import('ioredis')).Redis(redisUrl)
  : undefined;
const sessionKey = (id: string) => `floor:s:${id}`;
const indexKeys = (record: StoredRecord) => [
  ...(record.sid === undefined ? [] : [`floor:sidx:${record.sid}`]),
  `floor:subx:${record.sub}`,
];
type StoredRecord = Session & { id: string; sid?: string; expires_at: number };

type Transaction = { state: string; nonce: string; code_verifier: string };
type Session = {
  sub: string;
  id_token: string;
  userinfo: Record<string, unknown>;
  at: number;
  /** Kept with the session, as the app keeps it (for the user's API calls later). */
  refresh_token?: string;
};

function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

function cookie(name: string, value: string, maxAge: number): string {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}`;
}

function send(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function redirect(res: ServerResponse, location: string, cookies: string[]): void {
  res.writeHead(303, { location, 'set-cookie': cookies, 'cache-control': 'no-store' });
  res.end();
}

async function login(res: ServerResponse): Promise<void> {
  const code_verifier = client.randomPKCECodeVerifier();
  const tx: Transaction = {
    state: client.randomState(),
    nonce: client.randomNonce(),
    code_verifier,
  };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: SCOPE,
    resource: RESOURCE,
    code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: 'S256',
    state: tx.state,
    nonce: tx.nonce,
  });
  const sealed = await sealData(tx, { password, ttl: TX_TTL });
  redirect(res, url.href, [cookie('rp_tx', sealed, TX_TTL)]);
}

async function callback(req: IncomingMessage, res: ServerResponse): Promise<void> {
  // The app's order with Redis: the ping first, beside the opening of the cookies.
  const pinged = redis?.ping();
  pinged?.catch(() => undefined);
  const earlier = redis ? readSessionId(req) : undefined;
  earlier?.catch(() => undefined);
  const sealed = readCookie(req, 'rp_tx');
  const tx = sealed
    ? await unsealData<Partial<Transaction>>(sealed, { password, ttl: TX_TTL })
    : undefined;
  if (!tx?.state || !tx.nonce || !tx.code_verifier) {
    send(res, 400, { error: 'missing_transaction' });
    return;
  }
  if (redis) {
    await pinged;
    const id = await earlier;
    if (id !== undefined) await removeSession(redis, id);
  }
  const currentUrl = new URL(redirectUri);
  currentUrl.search = new URL(req.url ?? '/', floorUrl).search;
  const tokens = await client.authorizationCodeGrant(config, currentUrl, {
    pkceCodeVerifier: tx.code_verifier,
    expectedState: tx.state,
    expectedNonce: tx.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  if (!claims || !tokens.id_token) throw new Error('no ID token');
  await jwtVerify(tokens.id_token, providerKeys, { algorithms: ['RS256'] });
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const session: Session = {
    sub: claims.sub,
    id_token: tokens.id_token,
    userinfo,
    at: Math.floor(Date.now() / 1000),
    ...(tokens.refresh_token ? { refresh_token: tokens.refresh_token } : {}),
  };
  const sealedSession = redis
    ? await createSession(redis, session, claims.sid)
    : await sealData(session, { password, ttl: SESSION_TTL });
  redirect(res, '/', [cookie('rp_session', sealedSession, SESSION_TTL), cookie('rp_tx', '', 0)]);
}

async function me(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const session = redis ? await readStoredSession(redis, req) : await readCookieSession(req);
  if (!session?.sub || !session.id_token) {
    send(res, 401, { error: 'unauthenticated' });
    return;
  }
  send(res, 200, { ...decodeJwt(session.id_token), ...session.userinfo, sub: session.sub });
}

async function readCookieSession(req: IncomingMessage): Promise<Partial<Session> | undefined> {
  const sealed = readCookie(req, 'rp_session');
  return sealed
    ? await unsealData<Partial<Session>>(sealed, { password, ttl: SESSION_TTL })
    : undefined;
}

async function readSessionId(req: IncomingMessage): Promise<string | undefined> {
  const sealed = readCookie(req, 'rp_session');
  if (!sealed) return undefined;
  const { id } = await unsealData<{ id?: string }>(sealed, { password, ttl: SESSION_TTL });
  return id;
}

async function readStoredSession(
  store: RedisClient,
  req: IncomingMessage,
): Promise<Partial<StoredRecord> | undefined> {
  const id = await readSessionId(req);
  if (id === undefined) return undefined;
  const [json, version] = await store.hmget(sessionKey(id), 'r', 'v');
  if (typeof json !== 'string' || version === null) return undefined;
  return JSON.parse(json) as Partial<StoredRecord>;
}

/** Ends a session: read and deleted in one transaction, then its index entries (not awaited). */
async function removeSession(store: RedisClient, id: string): Promise<void> {
  const replies = await store.multi().hget(sessionKey(id), 'r').del(sessionKey(id)).exec();
  const json = replies?.[0]?.[1];
  if (typeof json !== 'string') return;
  const record = JSON.parse(json) as StoredRecord;
  const multi = store.multi();
  for (const key of indexKeys(record)) multi.zrem(key, id);
  multi.exec().catch(() => undefined);
}

/** Stores a new session as the app does; returns the sealed cookie with its id. */
async function createSession(store: RedisClient, session: Session, sid: unknown): Promise<string> {
  const id = randomUUID();
  const record: StoredRecord = {
    ...session,
    id,
    ...(typeof sid === 'string' ? { sid } : {}),
    expires_at: Date.now() + SESSION_TTL * 1000,
  };
  const multi = store
    .multi()
    .del(`floor:e:${id}`)
    .hset(sessionKey(id), { r: JSON.stringify(record), v: '1' })
    .pexpireat(sessionKey(id), record.expires_at);
  for (const key of indexKeys(record))
    multi
      .zremrangebyscore(key, '-inf', Date.now())
      .zadd(key, record.expires_at, id)
      .pexpireat(key, record.expires_at, 'NX')
      .pexpireat(key, record.expires_at, 'GT');
  const replies = await multi.exec();
  if (!replies || replies.some(([err]) => err)) throw new Error('session not stored');
  return sealData({ id }, { password, ttl: SESSION_TTL });
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', floorUrl).pathname;
  const route =
    path === '/auth/login'
      ? login(res)
      : path === '/auth/callback'
        ? callback(req, res)
        : path === '/api/me'
          ? me(req, res)
          : path === '/'
            ? Promise.resolve(send(res, 200, { floor: true }))
            : Promise.resolve(send(res, 404, { error: 'not_found' }));
  route.catch((err: unknown) => {
    if (!res.headersSent) send(res, 400, { error: 'signin_failed', detail: String(err) });
    else res.end();
  });
});
server.listen(Number(floorUrl.port), floorUrl.hostname, () => {
  console.log(`[floor] ready at ${floorUrl.origin}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));
