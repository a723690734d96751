import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it, mock } from 'node:test';

import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  SignJWT,
  type JWK,
} from 'jose';

import { findFreePort } from '../scripts/processes';
import type { ClientRegistration } from './client-registration';
import { CookieJar, driveSignIn, driveSignOut } from './drive-sign-in';
import { settingsFromEnv, startProvider } from './index';

/**
 * The bundled provider's side of OpenID Connect Back-Channel Logout 1.0, in process: a tiny HTTP
 * server on loopback plays the relying party (its backchannel_logout_uri), a user signs in through
 * the provider's own pages and the client redeems the code with a client assertion, then the user
 * signs out at the provider's end_session_endpoint. The receiver must get exactly one Logout
 * Token whose claims are right (§2.4), signed with the provider's published key, and the
 * provider must log the delivery in one line without the token.
 */

const CLIENT_ID = 'client_using_jwt';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

type Delivery = { method: string; path: string; contentType: string; logoutToken: string | null };

/** The relying party's back-channel logout endpoint, as small as it gets. */
type Receiver = { appUrl: string; deliveries: Delivery[]; status: number; server: Server };

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    appUrl: '',
    deliveries: [],
    status: 200,
    server: createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        receiver.deliveries.push({
          method: req.method ?? '',
          path: req.url ?? '',
          contentType: req.headers['content-type'] ?? '',
          logoutToken: new URLSearchParams(body).get('logout_token'),
        });
        res.writeHead(receiver.status, { 'cache-control': 'no-store' }).end();
      });
    }),
  };
  await new Promise<void>((done) => receiver.server.listen(0, '127.0.0.1', done));
  receiver.appUrl = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
  return receiver;
}

type Running = { issuer: string; server: Server };

let clientKey: KeyObject;
let clientJwk: JWK & { kid: string };

async function startOp(appUrl: string, allowLoopbackFetch = true): Promise<Running> {
  const issuer = `http://localhost:${await findFreePort()}`;
  const registration: ClientRegistration = { mode: 'jwks', jwks: { keys: [clientJwk] } };
  const settings = {
    ...(await settingsFromEnv({
      NODE_ENV: 'test',
      PROVIDER_ISSUER: issuer,
      APP_URL: appUrl,
      PROVIDER_CLIENT_JWKS_URI: 'http://unused.invalid/',
    })),
    registration,
  };
  assert.equal(settings.allowLoopbackFetch, true, 'a loopback provider outside production');
  const { server } = await startProvider({ ...settings, allowLoopbackFetch });
  return { issuer, server };
}

function stop(server: Server | undefined): void {
  server?.close();
  server?.closeAllConnections();
}

/** Signs in as alice and redeems the code; returns the ID token and the provider's cookies. */
async function signIn(op: Running, appUrl: string): Promise<{ idToken: string; jar: CookieJar }> {
  const redirectUri = `${appUrl}/auth/callback`;
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${op.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(16).toString('base64url'),
    nonce: randomBytes(16).toString('base64url'),
  }).toString();
  const jar = new CookieJar();
  const callback = await driveSignIn(url, {
    login: 'alice',
    password: 'alice-password',
    redirectUri,
    jar,
  });
  const code = callback.searchParams.get('code');
  assert.ok(code, callback.href);
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ jti: randomBytes(16).toString('base64url') })
    .setProtectedHeader({ alg: 'RS256', kid: clientJwk.kid, typ: 'client-authentication+jwt' })
    .setIssuer(CLIENT_ID)
    .setSubject(CLIENT_ID)
    .setAudience(op.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(clientKey);
  const response = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: redirectUri,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  const body = (await response.json()) as { id_token?: string };
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.ok(body.id_token);
  return { idToken: body.id_token, jar };
}

/** RP-initiated logout at the provider, with the ID token as hint, back to the app. */
function signOut(op: Running, appUrl: string, session: { idToken: string; jar: CookieJar }) {
  return driveSignOut(op.issuer, session.jar, {
    id_token_hint: session.idToken,
    post_logout_redirect_uri: `${appUrl}/`,
  });
}

/** What the provider printed while `fn` ran (console.log and console.warn). */
async function captureLog(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const record = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  const log = mock.method(console, 'log', record);
  const warn = mock.method(console, 'warn', record);
  try {
    await fn();
  } finally {
    log.mock.restore();
    warn.mock.restore();
  }
  return lines;
}

before(async () => {
  clientKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const {
    d: _d,
    p: _p,
    q: _q,
    dp: _dp,
    dq: _dq,
    qi: _qi,
    ...pub
  } = clientKey.export({
    format: 'jwk',
  }) as JWK;
  clientJwk = { ...pub, kid: await calculateJwkThumbprint(pub, 'sha256'), alg: 'RS256' };
});

describe('the bundled provider sends a Logout Token when the user signs out there', () => {
  let receiver: Receiver;
  let op: Running;

  before(async () => {
    receiver = await startReceiver();
    op = await startOp(receiver.appUrl);
  });

  after(() => {
    stop(op?.server);
    stop(receiver?.server);
  });

  beforeEach(() => {
    receiver.deliveries = [];
    receiver.status = 200;
  });

  it('advertises back-channel logout with sid (§2.1) and registers the client for it (§2.2)', async () => {
    const metadata = (await (
      await fetch(`${op.issuer}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    assert.equal(metadata.backchannel_logout_supported, true);
    assert.equal(metadata.backchannel_logout_session_supported, true);
  });

  it('puts sid in the ID token, then POSTs a Logout Token with the right claims on sign-out', async () => {
    const session = await signIn(op, receiver.appUrl);
    const idClaims = decodeJwt(session.idToken);
    assert.equal(typeof idClaims.sid, 'string', 'sid in the ID token');
    assert.equal(receiver.deliveries.length, 0, 'nothing sent at sign-in');

    let redirect: URL | undefined;
    const lines = await captureLog(async () => {
      redirect = await signOut(op, receiver.appUrl, session);
    });
    assert.equal(redirect?.href, `${receiver.appUrl}/`, 'back to the post-logout redirect URI');

    // §2.5: one POST, form-encoded, to the registered backchannel_logout_uri.
    assert.equal(receiver.deliveries.length, 1);
    const [delivery] = receiver.deliveries;
    assert.ok(delivery?.logoutToken);
    assert.equal(delivery.method, 'POST');
    assert.equal(delivery.path, '/auth/backchannel-logout');
    assert.match(delivery.contentType, /^application\/x-www-form-urlencoded/);

    // §2.4: signed with the provider's published key, typed logout+jwt, the ID token's algorithm.
    const header = decodeProtectedHeader(delivery.logoutToken);
    assert.equal(header.typ, 'logout+jwt');
    assert.equal(header.alg, decodeProtectedHeader(session.idToken).alg);
    const { payload } = await jwtVerify(
      delivery.logoutToken,
      createRemoteJWKSet(new URL(`${op.issuer}/jwks`)),
      { issuer: op.issuer, audience: CLIENT_ID, typ: 'logout+jwt', algorithms: ['RS256'] },
    );
    assert.equal(payload.iss, op.issuer);
    assert.equal(payload.aud, CLIENT_ID);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.sid, idClaims.sid, 'the sid of the ID token, so the RP finds the session');
    assert.deepEqual(payload.events, { [EVENT]: {} });
    assert.equal(typeof payload.jti, 'string');
    assert.equal(typeof payload.iat, 'number');
    assert.ok(Math.abs((payload.iat ?? 0) - Date.now() / 1000) < 30, 'iat is now');
    assert.ok(payload.exp !== undefined && payload.exp - (payload.iat ?? 0) <= 120, 'short-lived');
    assert.equal(Object.hasOwn(payload, 'nonce'), false, 'no nonce (§2.4)');

    // One line per Logout Token sent: the client and the outcome, never the token.
    const logLines = lines.filter((line) => line.includes('backchannel.logout'));
    assert.deepEqual(logLines, [`[op] backchannel.logout client=${CLIENT_ID} outcome=delivered`]);
    assert.ok(!lines.some((line) => line.includes(delivery.logoutToken ?? '')));
  });

  it('logs a refused delivery with the RP’s status, and still ends the provider session', async () => {
    receiver.status = 400;
    const session = await signIn(op, receiver.appUrl);
    let redirect: URL | undefined;
    const lines = await captureLog(async () => {
      redirect = await signOut(op, receiver.appUrl, session);
    });
    assert.equal(redirect?.href, `${receiver.appUrl}/`);
    assert.equal(receiver.deliveries.length, 1);
    assert.deepEqual(
      lines.filter((line) => line.includes('backchannel.logout')),
      [`[op] backchannel.logout client=${CLIENT_ID} outcome=failed status=400`],
    );
  });
});

describe('the loopback exception to the SSRF guard covers the Logout Token POST', () => {
  let receiver: Receiver;
  let guarded: Running;

  before(async () => {
    receiver = await startReceiver();
    guarded = await startOp(receiver.appUrl, false);
  });

  after(() => {
    stop(guarded?.server);
    stop(receiver?.server);
  });

  it('without the exception, oidc-provider refuses to POST to a loopback RP', async () => {
    const session = await signIn(guarded, receiver.appUrl);
    const lines = await captureLog(async () => {
      await signOut(guarded, receiver.appUrl, session);
    });
    assert.equal(receiver.deliveries.length, 0, 'nothing reached the loopback receiver');
    const [line, ...others] = lines.filter((l) => l.includes('backchannel.logout'));
    assert.deepEqual(others, []);
    assert.match(line ?? '', /client=client_using_jwt outcome=failed reason=.*special-use IP/);
  });
});
