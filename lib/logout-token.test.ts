import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';

import {
  calculateJwkThumbprint,
  CompactEncrypt,
  CompactSign,
  exportJWK,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type JWK,
  type JWTPayload,
} from 'jose';

import {
  BACKCHANNEL_LOGOUT_EVENT,
  createMemoryJtiReplayStore,
  LOGOUT_TOKEN_ERRORS,
  LogoutTokenError,
  validateLogoutToken,
  type JtiReplayStore,
  type LogoutTokenErrorCode,
} from './logout-token';
import { createProviderJwks, type ProviderJwks } from './provider-jwks';
import { CookieJar, driveSignIn, driveSignOut } from '../provider/drive-sign-in';
import { settingsFromEnv, startProvider } from '../provider/index';
import { findFreePort } from '../scripts/processes';

/**
 * Logout Token validation (OpenID Connect Back-Channel Logout 1.0 §2.6) against the provider's
 * keys served over HTTP from this process, with tokens signed by jose. Every negative of the
 * OpenID Foundation's Back-Channel RP plan (`oidcc-client-test-rp-backchannel-rpinitlogout-*`) and
 * more, each refused with its code; the positives by sid, by sub and by both.
 */

const ISSUER = 'https://op.example.com';
const CLIENT_ID = 'client_using_jwt';

type Alg = 'RS256' | 'ES256' | 'PS256';
type Key = { kid: string; privateKey: CryptoKey; publicJwk: JWK; alg: Alg };

async function newKey(alg: Alg = 'RS256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, privateKey, alg, publicJwk: { ...publicJwk, kid, use: 'sig', alg } };
}

let server: Server;
let jwksUri: string;
let published: JWK[] = [];
let fetches = 0;
let providerKey: Key;
let providerEcKey: Key;
let jwks: ProviderJwks;

before(async () => {
  providerKey = await newKey('RS256');
  providerEcKey = await newKey('ES256');
  server = createServer((_req, res) => {
    fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});

after(() => {
  server.close();
  server.closeAllConnections();
});

beforeEach(() => {
  published = [providerKey.publicJwk, providerEcKey.publicJwk];
  fetches = 0;
  jwks = createProviderJwks(jwksUri, 5000);
});

const now = () => Math.floor(Date.now() / 1000);

/** A correct Logout Token's claims, by sid and sub; `overrides` replace or add members. */
function logoutClaims(overrides: Record<string, unknown> = {}): JWTPayload {
  return {
    iss: ISSUER,
    aud: CLIENT_ID,
    iat: now(),
    exp: now() + 120,
    jti: randomBytes(16).toString('base64url'),
    sub: 'alice',
    sid: 'sid-1',
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    ...overrides,
  };
}

/** Removes claims (a claim left out). */
function without(payload: JWTPayload, ...names: string[]): JWTPayload {
  return Object.fromEntries(Object.entries(payload).filter(([name]) => !names.includes(name)));
}

/** Signs as the provider does: its RS256 key, with kid and typ logout+jwt (`header` overrides). */
function sign(
  payload: JWTPayload,
  header: Record<string, unknown> = {},
  key: Key = providerKey,
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'logout+jwt', ...header })
    .sign(key.privateKey);
}

function validate(
  token: string,
  replay: Pick<JtiReplayStore, 'rememberOnce'> = createMemoryJtiReplayStore(),
  overrides: { algorithms?: string[]; maxAgeSeconds?: number; jwks?: ProviderJwks } = {},
) {
  return validateLogoutToken(token, {
    jwks: overrides.jwks ?? jwks,
    issuer: ISSUER,
    clientId: CLIENT_ID,
    algorithms: overrides.algorithms ?? ['RS256'],
    replay,
    maxAgeSeconds: overrides.maxAgeSeconds,
  });
}

async function assertRefused(
  token: Promise<string> | string,
  code: LogoutTokenErrorCode,
  replay?: JtiReplayStore,
): Promise<void> {
  await assert.rejects(validate(await token, replay), (err: unknown) => {
    assert.ok(err instanceof LogoutTokenError, `a LogoutTokenError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.description, LOGOUT_TOKEN_ERRORS[code]);
    return true;
  });
}

/** A replay store that records what it is asked. */
function recordingStore(): JtiReplayStore & { calls: string[] } {
  const inner = createMemoryJtiReplayStore();
  const calls: string[] = [];
  return {
    calls,
    rememberOnce(jti, expiresAt) {
      calls.push(jti);
      return inner.rememberOnce(jti, expiresAt);
    },
    forgetOnce: (jti) => inner.forgetOnce(jti),
  };
}

describe('validateLogoutToken: accepted (oidcc-client-test-rp-backchannel-rpinitlogout)', () => {
  it('by sid and sub', async () => {
    const claims = logoutClaims();
    assert.deepEqual(await validate(await sign(claims)), {
      sid: 'sid-1',
      sub: 'alice',
      jti: claims.jti,
    });
  });

  it('by sid only', async () => {
    const claims = without(logoutClaims(), 'sub');
    assert.deepEqual(await validate(await sign(claims)), { sid: 'sid-1', jti: claims.jti });
  });

  it('by sub only (every session of the user)', async () => {
    const claims = without(logoutClaims(), 'sid');
    assert.deepEqual(await validate(await sign(claims)), { sub: 'alice', jti: claims.jti });
  });

  it('untyped, typed JWT, or typed application/logout+jwt in any case (§2.4 only RECOMMENDS typing)', async () => {
    for (const typ of [undefined, 'JWT', 'jwt', 'application/logout+jwt', 'Logout+JWT']) {
      const token = await sign(logoutClaims(), { typ });
      assert.equal((await validate(token)).sub, 'alice', `typ ${typ}`);
    }
  });

  it('without exp (the 2022 text did not list it; iat bounds the token)', async () => {
    assert.equal((await validate(await sign(without(logoutClaims(), 'exp')))).sid, 'sid-1');
  });

  it('with aud as a one-value array, azp = client_id, other events and unknown claims', async () => {
    const token = await sign(
      logoutClaims({
        aud: [CLIENT_ID],
        azp: CLIENT_ID,
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {}, 'https://example.com/other': { x: 1 } },
        something_new: true,
      }),
    );
    assert.equal((await validate(token)).sid, 'sid-1');
  });

  it('signed ES256 when the client expects ES256', async () => {
    const token = await sign(logoutClaims(), {}, providerEcKey);
    assert.equal((await validate(token, undefined, { algorithms: ['ES256'] })).sid, 'sid-1');
  });

  it('iat a little in the future or near the maximum age (clock tolerance)', async () => {
    assert.ok(await validate(await sign(logoutClaims({ iat: now() + 20 }))));
    assert.ok(await validate(await sign(logoutClaims({ iat: now() - 140 }))));
  });
});

describe('validateLogoutToken: the OpenID Foundation Back-Channel RP negatives', () => {
  it('rpinitlogout-alg-none: an unsigned token', async () => {
    const unsigned = new UnsecuredJWT(logoutClaims()).encode();
    await assertRefused(unsigned, 'logout_token_unsigned');
    // The same with a typ and with alg spelled otherwise.
    const [, payload] = unsigned.split('.');
    for (const alg of ['none', 'None', 'NONE']) {
      const header = Buffer.from(JSON.stringify({ alg, typ: 'logout+jwt' })).toString('base64url');
      await assertRefused(`${header}.${payload}.`, 'logout_token_unsigned');
    }
  });

  it('rpinitlogout-wrong-alg: ES256 with a published key when RS256 is expected', async () => {
    await assertRefused(sign(logoutClaims(), {}, providerEcKey), 'logout_token_alg_not_allowed');
  });

  it('wrong alg: HMAC with the public key as secret (RFC 8725 §2.1), PS256 with a published key', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(providerKey.publicJwk));
    const hmac = await new SignJWT(logoutClaims())
      .setProtectedHeader({ alg: 'HS256', kid: providerKey.kid, typ: 'logout+jwt' })
      .sign(secret);
    await assertRefused(hmac, 'logout_token_alg_not_allowed');
    const pss = await newKey('PS256');
    published = [...published, pss.publicJwk];
    await assertRefused(sign(logoutClaims(), {}, pss), 'logout_token_alg_not_allowed');
  });

  it('refuses HMAC even when the caller lists it', async () => {
    const hmac = await new SignJWT(logoutClaims())
      .setProtectedHeader({ alg: 'HS256' })
      .sign(randomBytes(32));
    await assert.rejects(validate(hmac, undefined, { algorithms: ['RS256', 'HS256'] }), {
      code: 'logout_token_alg_not_allowed',
    });
    await assert.rejects(validate(hmac, undefined, { algorithms: ['HS256'] }), TypeError);
  });

  it('bad signature: signed by a key that claims the provider key’s kid', async () => {
    const forger = await newKey('RS256');
    await assertRefused(
      sign(logoutClaims(), { kid: providerKey.kid }, forger),
      'logout_token_signature_invalid',
    );
  });

  it('bad signature: a claims set altered after signing', async () => {
    const [header, , signature] = (await sign(logoutClaims())).split('.');
    const altered = Buffer.from(JSON.stringify(logoutClaims({ sub: 'bob' }))).toString('base64url');
    await assertRefused(`${header}.${altered}.${signature}`, 'logout_token_signature_invalid');
  });

  it('rpinitlogout-wrong-iss', async () => {
    await assertRefused(
      sign(logoutClaims({ iss: 'https://attacker.example' })),
      'logout_token_issuer_invalid',
    );
    await assertRefused(sign(without(logoutClaims(), 'iss')), 'logout_token_issuer_invalid');
    await assertRefused(sign(logoutClaims({ iss: `${ISSUER}/` })), 'logout_token_issuer_invalid');
  });

  it('rpinitlogout-wrong-aud', async () => {
    await assertRefused(
      sign(logoutClaims({ aud: 'another-client' })),
      'logout_token_audience_invalid',
    );
    await assertRefused(sign(without(logoutClaims(), 'aud')), 'logout_token_audience_invalid');
  });

  it('aud lists another, untrusted audience too, or azp names another client (as for ID tokens)', async () => {
    await assertRefused(
      sign(logoutClaims({ aud: [CLIENT_ID, 'another-client'], azp: CLIENT_ID })),
      'logout_token_audience_invalid',
    );
    await assertRefused(
      sign(logoutClaims({ azp: 'another-client' })),
      'logout_token_audience_invalid',
    );
  });

  it('no iat, or iat not a number', async () => {
    await assertRefused(sign(without(logoutClaims(), 'iat')), 'logout_token_iat_invalid');
    await assertRefused(
      sign(logoutClaims({ iat: String(now()) as unknown as number })),
      'logout_token_iat_invalid',
    );
  });

  it('rpinitlogout-no-event: no events claim', async () => {
    await assertRefused(sign(without(logoutClaims(), 'events')), 'logout_token_events_invalid');
  });

  it('rpinitlogout-wrong-event: events without the back-channel logout member', async () => {
    await assertRefused(
      sign(logoutClaims({ events: { [`${BACKCHANNEL_LOGOUT_EVENT}-invalid`]: {} } })),
      'logout_token_events_invalid',
    );
    await assertRefused(
      sign(logoutClaims({ events: { 'http://schemas.openid.net/event/frontchannel-logout': {} } })),
      'logout_token_events_invalid',
    );
  });

  it('rpinitlogout-with-nonce: a nonce, whatever its value', async () => {
    for (const nonce of ['n-0S6_WzA2Mj', '', null]) {
      await assertRefused(sign(logoutClaims({ nonce })), 'logout_token_nonce_present');
    }
  });

  it('neither sid nor sub', async () => {
    await assertRefused(
      sign(without(logoutClaims(), 'sid', 'sub')),
      'logout_token_sub_sid_invalid',
    );
  });

  it('replayed jti: the second delivery of an accepted token', async () => {
    const replay = createMemoryJtiReplayStore();
    const token = await sign(logoutClaims());
    assert.ok(await validate(token, replay));
    await assertRefused(token, 'logout_token_replayed', replay);
    // Another token with the same jti is a replay too.
    const { jti } = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      jti: string;
    };
    await assertRefused(sign(logoutClaims({ jti, sid: 'sid-2' })), 'logout_token_replayed', replay);
  });
});

describe('validateLogoutToken: more negatives', () => {
  it('an encrypted token (JWE)', async () => {
    const { publicKey } = await generateKeyPair('RSA-OAEP-256');
    const jwe = await new CompactEncrypt(new TextEncoder().encode(await sign(logoutClaims())))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })
      .encrypt(publicKey);
    assert.equal(jwe.split('.').length, 5);
    await assertRefused(jwe, 'logout_token_encrypted');
  });

  it('not a JWT: empty, junk, two or four segments, a header that is not JSON, too long', async () => {
    const good = await sign(logoutClaims());
    for (const junk of [
      '',
      'not-a-jwt',
      good.split('.').slice(0, 2).join('.'),
      `${good}.extra`,
      `%%%.${good.split('.').slice(1).join('.')}`,
      `${good}${'A'.repeat(17_000)}`,
    ]) {
      await assertRefused(junk, 'logout_token_malformed');
    }
    await assert.rejects(validate(undefined as unknown as string), {
      code: 'logout_token_malformed',
    });
  });

  it('a claims set that is not a JSON object', async () => {
    const signed = await new CompactSign(new TextEncoder().encode('[1,2]'))
      .setProtectedHeader({ alg: 'RS256', kid: providerKey.kid })
      .sign(providerKey.privateKey);
    await assertRefused(signed, 'logout_token_malformed');
  });

  it('expired (exp passed beyond the tolerance), or exp not a number', async () => {
    await assertRefused(
      sign(logoutClaims({ iat: now() - 100, exp: now() - 31 })),
      'logout_token_expired',
    );
    await assertRefused(sign(logoutClaims({ exp: 'soon' })), 'logout_token_expired');
  });

  it('iat too old (beyond maxAgeSeconds and the tolerance) or far in the future', async () => {
    await assertRefused(
      sign(logoutClaims({ iat: now() - 151, exp: now() + 60 })),
      'logout_token_iat_invalid',
    );
    await assertRefused(
      sign(logoutClaims({ iat: now() + 3600, exp: now() + 3700 })),
      'logout_token_iat_invalid',
    );
    const minuteOld = await sign(logoutClaims({ iat: now() - 60 }));
    await assert.rejects(validate(minuteOld, undefined, { maxAgeSeconds: 10 }), {
      code: 'logout_token_iat_invalid',
    });
  });

  it('nbf in the future', async () => {
    await assertRefused(sign(logoutClaims({ nbf: now() + 600 })), 'logout_token_not_yet_valid');
  });

  it('events or its member not a JSON object', async () => {
    for (const events of [
      'logout',
      [BACKCHANNEL_LOGOUT_EVENT],
      null,
      { [BACKCHANNEL_LOGOUT_EVENT]: true },
      { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' },
      { [BACKCHANNEL_LOGOUT_EVENT]: null },
      { [BACKCHANNEL_LOGOUT_EVENT]: [] },
    ]) {
      await assertRefused(sign(logoutClaims({ events })), 'logout_token_events_invalid');
    }
  });

  it('an ID token of the same provider for the same client (cross-JWT confusion, §4.1)', async () => {
    const idToken = await sign(
      {
        iss: ISSUER,
        aud: CLIENT_ID,
        sub: 'alice',
        sid: 'sid-1',
        iat: now(),
        exp: now() + 600,
        nonce: 'n',
      },
      { typ: undefined },
    );
    await assertRefused(idToken, 'logout_token_jti_invalid');
    const withJti = await sign(logoutClaims({ events: undefined, nonce: 'n' }), { typ: undefined });
    await assertRefused(withJti, 'logout_token_events_invalid');
  });

  it('sid or sub present but not a non-empty string', async () => {
    await assertRefused(sign(logoutClaims({ sid: 42 })), 'logout_token_sub_sid_invalid');
    await assertRefused(sign(logoutClaims({ sub: '' })), 'logout_token_sub_sid_invalid');
    await assertRefused(
      sign(without(logoutClaims({ sub: { id: 'alice' } }), 'sid')),
      'logout_token_sub_sid_invalid',
    );
  });

  it('no jti, or a jti that is not a bounded string', async () => {
    await assertRefused(sign(without(logoutClaims(), 'jti')), 'logout_token_jti_invalid');
    await assertRefused(sign(logoutClaims({ jti: 7 })), 'logout_token_jti_invalid');
    await assertRefused(sign(logoutClaims({ jti: '' })), 'logout_token_jti_invalid');
    await assertRefused(sign(logoutClaims({ jti: 'j'.repeat(513) })), 'logout_token_jti_invalid');
  });

  it('typ naming another kind of JWT (§4.1, RFC 8725 §3.11)', async () => {
    for (const typ of [
      'at+jwt',
      'application/at+jwt',
      'client-authentication+jwt',
      'secevent+jwt',
      'JOSE',
      42,
    ]) {
      await assertRefused(sign(logoutClaims(), { typ }), 'logout_token_typ_invalid');
    }
  });

  it('a key the provider does not publish, and no kid among several keys (OIDC Core §10.1)', async () => {
    const stranger = await newKey('RS256');
    await assertRefused(sign(logoutClaims(), {}, stranger), 'logout_token_key_unknown');
    await assertRefused(sign(logoutClaims(), { kid: undefined }), 'logout_token_key_unknown');
  });

  it('accepts a token without kid when the provider publishes one signing key', async () => {
    published = [providerKey.publicJwk];
    assert.ok(await validate(await sign(logoutClaims(), { kid: undefined })));
  });

  it('the provider keys out of reach: keys_unavailable, and the jti is not consumed', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));
    const unreachable = createProviderJwks(`http://127.0.0.1:${port}/jwks`, 2000);
    const replay = recordingStore();
    const token = await sign(logoutClaims());
    await assert.rejects(validate(token, replay, { jwks: unreachable }), {
      code: 'logout_token_keys_unavailable',
    });
    assert.deepEqual(replay.calls, []);
    assert.ok(await validate(token, replay), 'the same token is accepted once the keys are back');
  });
});

describe('validateLogoutToken: key rotation and the replay store', () => {
  it('refetches the JWKS for an unknown kid after the cooldown (provider key rotation)', async () => {
    const rotating = createProviderJwks(jwksUri, 5000, { cooldownMs: 50 });
    assert.ok(await validate(await sign(logoutClaims()), undefined, { jwks: rotating }));
    const rotated = await newKey('RS256');
    published = [rotated.publicJwk];
    await new Promise((done) => setTimeout(done, 60));
    const token = await sign(logoutClaims(), {}, rotated);
    assert.equal((await validate(token, undefined, { jwks: rotating })).sid, 'sid-1');
    assert.equal(fetches, 2);
  });

  it('refetches once within the cooldown, then no more: junk kids cannot flood the provider', async () => {
    assert.ok(await validate(await sign(logoutClaims())));
    for (let i = 0; i < 5; i++) {
      await assertRefused(
        sign(logoutClaims(), {}, await newKey('RS256')),
        'logout_token_key_unknown',
      );
    }
    assert.equal(fetches, 2, 'the first unknown kid refetched once; the others did not');
  });

  it('accepts a logout signed with a key the provider published since the last fetch', async () => {
    // Back-Channel Logout §2.6 step 2 ("as ID tokens"), OIDC Core §10.1.1: an unfamiliar kid
    // means a refetch. A 400 here would never be retried: the session would outlive the logout.
    const jwks = createProviderJwks(jwksUri, 5000);
    assert.ok(await validate(await sign(logoutClaims()), undefined, { jwks }));
    const rotated = await newKey('RS256');
    published = [rotated.publicJwk];
    const token = await sign(logoutClaims(), {}, rotated);
    assert.equal((await validate(token, undefined, { jwks })).sid, 'sid-1');
    assert.equal(fetches, 2);
  });

  it('only a token valid in every other way consumes its jti', async () => {
    const replay = recordingStore();
    const claims = logoutClaims();
    await assertRefused(sign({ ...claims, nonce: 'x' }), 'logout_token_nonce_present', replay);
    await assertRefused(
      sign({ ...claims, iss: 'https://x.example' }),
      'logout_token_issuer_invalid',
      replay,
    );
    const forger = await newKey('RS256');
    await assertRefused(
      sign(claims, { kid: providerKey.kid }, forger),
      'logout_token_signature_invalid',
      replay,
    );
    assert.deepEqual(replay.calls, []);
    assert.ok(await validate(await sign(claims), replay), 'the genuine token still passes');
    assert.deepEqual(replay.calls, [claims.jti]);
  });

  it('keeps the jti until the token would be too old anyway, on any instance’s clock', async () => {
    const asked: number[] = [];
    const replay: Pick<JtiReplayStore, 'rememberOnce'> = {
      async rememberOnce(_jti, expiresAt) {
        asked.push(expiresAt);
        return true;
      },
    };
    const iat = now();
    await validate(await sign(logoutClaims({ iat })), replay);
    // This instance would accept the token until iat + 120 s + the 30 s tolerance; another
    // instance of the shared store whose clock runs behind this one's (by less than the tolerance,
    // too little to be corrected) would accept it for that much longer: the jti outlives both.
    assert.equal(asked[0], iat + 120 + 30 + 30);
  });

  it('lets a replay store error through, untouched', async () => {
    const failure = Object.assign(new Error('store down'), { code: 'ECONNREFUSED' });
    const broken: Pick<JtiReplayStore, 'rememberOnce'> = {
      async rememberOnce() {
        throw failure;
      },
    };
    await assert.rejects(validate(await sign(logoutClaims()), broken), (err) => err === failure);
  });
});

describe('createMemoryJtiReplayStore', () => {
  it('answers true once per jti, false while it is remembered', async () => {
    const store = createMemoryJtiReplayStore();
    const until = now() + 60;
    assert.equal(await store.rememberOnce('a', until), true);
    assert.equal(await store.rememberOnce('a', until), false);
    assert.equal(await store.rememberOnce('b', until), true);
  });

  it('of concurrent deliveries of one jti, exactly one is new', async () => {
    const store = createMemoryJtiReplayStore();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => store.rememberOnce('same', now() + 60)),
    );
    assert.equal(answers.filter(Boolean).length, 1);
  });

  it('forgets a jti once it expires, not a moment before', async (t) => {
    // The store's clock is Date: a mocked one, so that no pause of this process (a busy machine)
    // can carry the second delivery past the expiry.
    t.mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 });
    const store = createMemoryJtiReplayStore();
    assert.equal(await store.rememberOnce('a', 1_800_000_005), true);
    t.mock.timers.tick(4_999);
    assert.equal(await store.rememberOnce('a', now() + 60), false, 'remembered until it expires');
    t.mock.timers.tick(1);
    assert.equal(await store.rememberOnce('a', now() + 60), true, 'forgotten at its expiry');
  });

  it('stays bounded: expired entries go first, then the oldest', async () => {
    const store = createMemoryJtiReplayStore({ maxEntries: 3 });
    await store.rememberOnce('expired', now() - 1);
    await store.rememberOnce('old', now() + 60);
    await store.rememberOnce('mid', now() + 60);
    await store.rememberOnce('new', now() + 60); // evicts "expired"
    assert.equal(await store.rememberOnce('old', now() + 60), false, 'a live entry is kept');
    await store.rememberOnce('newest', now() + 60); // full of live entries: evicts "old"
    assert.equal(await store.rememberOnce('mid', now() + 60), false);
    assert.equal(await store.rememberOnce('old', now() + 60), true, 'the oldest was forgotten');
  });

  it('refuses a bound that is not a positive integer', () => {
    assert.throws(() => createMemoryJtiReplayStore({ maxEntries: 0 }), TypeError);
    assert.throws(() => createMemoryJtiReplayStore({ maxEntries: 1.5 }), TypeError);
  });
});

describe('validateLogoutToken: the bundled provider’s own Logout Token', () => {
  it('is accepted once, by sid and sub, after the user signs out at the provider', async () => {
    const received: string[] = [];
    const rp = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push(new URLSearchParams(body).get('logout_token') ?? '');
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((done) => rp.listen(0, '127.0.0.1', done));
    const appUrl = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
    const issuer = `http://localhost:${await findFreePort()}`;
    const clientKey = await newKey('RS256');
    const settings = await settingsFromEnv({
      NODE_ENV: 'test',
      PROVIDER_ISSUER: issuer,
      APP_URL: appUrl,
      PROVIDER_CLIENT_JWKS_URI: 'http://unused.invalid/',
    });
    const op = await startProvider({
      ...settings,
      registration: { mode: 'jwks', jwks: { keys: [clientKey.publicJwk] } },
    });
    try {
      const jar = new CookieJar();
      const authorization = new URL(`${issuer}/auth`);
      authorization.search = new URLSearchParams({
        client_id: CLIENT_ID,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: `${appUrl}/auth/callback`,
        code_challenge: randomBytes(32).toString('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      await driveSignIn(authorization, {
        login: 'alice',
        password: 'alice-password',
        redirectUri: `${appUrl}/auth/callback`,
        jar,
      });
      await driveSignOut(issuer, jar);
      assert.equal(received.length, 1);
      const [token = ''] = received;
      const replay = createMemoryJtiReplayStore();
      const options = {
        jwks: createProviderJwks(`${issuer}/jwks`, 5000),
        issuer,
        clientId: CLIENT_ID,
        algorithms: ['RS256'],
        replay,
      };
      const accepted = await validateLogoutToken(token, options);
      assert.equal(accepted.sub, 'alice');
      assert.equal(typeof accepted.sid, 'string');
      await assert.rejects(validateLogoutToken(token, options), { code: 'logout_token_replayed' });
    } finally {
      op.server.close();
      op.server.closeAllConnections();
      rp.close();
      rp.closeAllConnections();
    }
  });
});
