import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it, mock } from 'node:test';

import { decodeJwt } from 'jose';

import { backChannelFetch } from './back-channel';
import { createClientAuthentication } from './client-assertion';
import { writeClientKeyFile } from './client-key-test-support';
import {
  CLOCK_SKEW_THRESHOLD_SECONDS,
  configureClockSkew,
  DEFAULT_MAX_CLOCK_SKEW_SECONDS,
  estimateClockOffset,
  getClockSkew,
  hasClockSample,
  observeProviderResponse,
  resetClockSkew,
} from './clock-skew';
import { loadClientKeySet, type ClientKeySet } from './keys';

const TOKEN_ENDPOINT = 'https://idp.example.com/oauth2/token';
const TOKEN_POST = { method: 'POST', url: TOKEN_ENDPOINT } as const;

/** Response headers of a provider whose clock reads `providerMs`, as a server writes them. */
function headersAt(providerMs: number, extra: Record<string, string> = {}): Headers {
  return new Headers({ date: new Date(providerMs).toUTCString(), ...extra });
}

/** One token-endpoint response: written at `providerMs`, sent and received at these local times. */
function answer(providerMs: number, sentAtMs: number, receivedAtMs = sentAtMs): void {
  observeProviderResponse(TOKEN_POST, headersAt(providerMs), sentAtMs, receivedAtMs);
}

let warnings: string[] = [];

beforeEach(() => {
  resetClockSkew();
  configureClockSkew({ maxSeconds: DEFAULT_MAX_CLOCK_SKEW_SECONDS, tokenEndpoint: TOKEN_ENDPOINT });
  warnings = [];
  mock.method(console, 'warn', (line: string) => warnings.push(String(line)));
});

afterEach(() => {
  mock.restoreAll();
  resetClockSkew();
});

describe('the interval one response allows', () => {
  it('always contains the true offset, whatever the truncation and the round trip', () => {
    for (const local of [1_800_000_000_000, 1_800_000_000_500, 1_800_000_000_999]) {
      for (const offsetMs of [-3_600_000, -120_000, -2_500, -999, -1, 0, 1, 999, 2_500, 120_000]) {
        for (const [writeAfterMs, rttMs] of [
          [0, 0],
          [0, 40],
          [20, 40],
          [900, 900],
          [1_500, 3_000],
        ] as const) {
          const providerWrote = local + writeAfterMs + offsetMs;
          const sample = estimateClockOffset(headersAt(providerWrote), local, local + rttMs);
          assert.ok(sample);
          const trueOffset = offsetMs / 1000;
          assert.ok(
            sample.low <= trueOffset && trueOffset <= sample.high,
            `offset ${offsetMs} ms, rtt ${rttMs} ms: [${sample.low}, ${sample.high}]`,
          );
          assert.ok(Math.abs(sample.high - sample.low - (1 + rttMs / 1000)) < 1e-6);
          // The lower bound, rounded down, never puts a corrected time in the provider's future.
          const arrival = local + rttMs;
          const corrected = Math.floor(arrival / 1000) + Math.floor(sample.low);
          assert.ok(corrected <= (arrival + offsetMs) / 1000);
        }
      }
    }
  });

  it('is nothing for a response from a cache (any Age), without a Date, or with garbage', () => {
    const now = 1_800_000_000_000;
    assert.equal(
      estimateClockOffset(headersAt(now - 600_000, { age: '600' }), now, now),
      undefined,
    );
    assert.equal(estimateClockOffset(headersAt(now, { age: '0' }), now, now), undefined);
    assert.equal(estimateClockOffset(new Headers(), now, now), undefined);
    assert.equal(estimateClockOffset(new Headers({ date: 'yesterday-ish' }), now, now), undefined);
  });
});

describe('where the offset is learned from', () => {
  it('from POSTs to the token endpoint only: not discovery, not the JWKS, not a GET', () => {
    const now = Date.now();
    const fast = headersAt(now + 120_000);
    for (const request of [
      { method: 'GET', url: 'https://idp.example.com/.well-known/openid-configuration' },
      { method: 'GET', url: 'https://idp.example.com/jwks' },
      { method: 'GET', url: TOKEN_ENDPOINT },
      { method: 'POST', url: 'https://idp.example.com/oauth2/userinfo' },
      { method: 'POST', url: 'https://elsewhere.example.com/oauth2/token' },
    ]) {
      observeProviderResponse(request, fast, now, now);
      assert.equal(getClockSkew(), 0, `${request.method} ${request.url}`);
    }
    assert.equal(hasClockSample(), false);
    observeProviderResponse(
      { method: 'POST', url: `${TOKEN_ENDPOINT}?x=1` },
      headersAt(now + 120_000),
      now,
      now,
    );
    assert.ok(getClockSkew() >= 119 && getClockSkew() <= 120, `skew ${getClockSkew()}`);
  });

  it('ignores a token-endpoint response that carries Age', () => {
    const now = Date.now();
    observeProviderResponse(TOKEN_POST, headersAt(now - 120_000, { age: '0' }), now, now);
    assert.equal(getClockSkew(), 0);
  });

  it('learns nothing before discovery names the token endpoint', () => {
    resetClockSkew();
    const now = Date.now();
    answer(now + 120_000, now);
    assert.equal(getClockSkew(), 0);
  });
});

describe('the cap', () => {
  it('refuses an offset beyond ±300 s by default, keeps the current one, and logs it once', () => {
    const now = Date.now();
    answer(now - 90_000, now);
    assert.ok(getClockSkew() <= -90 && getClockSkew() >= -91);
    const corrected = getClockSkew();
    warnings = [];
    // A ten-minute-old Date, then one from 2100: neither moves the assertions.
    answer(now - 600_000, now);
    answer(Date.UTC(2100, 0, 1), now);
    answer(now - 600_000, now);
    assert.equal(getClockSkew(), corrected);
    assert.equal(
      warnings.filter((w) => w.includes('clock skew refused')).length,
      1,
      warnings.join(),
    );
    assert.match(warnings[0] ?? '', /OIDC_CLOCK_SKEW_MAX/);
  });

  it('follows OIDC_CLOCK_SKEW_MAX: a larger cap accepts, 0 never corrects', () => {
    const now = Date.now();
    configureClockSkew({ maxSeconds: 900, tokenEndpoint: TOKEN_ENDPOINT });
    answer(now - 600_000, now);
    assert.ok(getClockSkew() <= -600 && getClockSkew() >= -601);
    resetClockSkew();
    configureClockSkew({ maxSeconds: 0, tokenEndpoint: TOKEN_ENDPOINT });
    answer(now + 120_000, now);
    answer(now + 120_000, now);
    assert.equal(getClockSkew(), 0);
  });

  it('accepts up to the cap itself', () => {
    const now = Math.floor(Date.now() / 1000) * 1000;
    answer(now + 300_000, now);
    assert.equal(getClockSkew(), 300);
  });
});

describe('truncation, round trip and the threshold', () => {
  it('one machine, one clock: never a correction, never a warning, under any load', () => {
    // The provider shares this machine's clock. It writes Date at some moment of the round trip
    // (truncated to the second); round trips up to 3 s, as under heavy load.
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let now = 1_800_000_000_000;
    for (let i = 0; i < 20_000; i++) {
      now += Math.floor(random() * 200);
      const rtt = Math.floor(random() * (i % 10 === 0 ? 3_000 : 200));
      const written = now + Math.floor(random() * rtt);
      answer(written, now, now + rtt);
      assert.equal(getClockSkew(), 0, `sample ${i}: rtt ${rtt} ms`);
    }
    assert.deepEqual(warnings, []);
  });

  it(
    'a sample that proves an offset by less than a second past the threshold acts ' +
      'only when the one before proved the same',
    () => {
      const now = 1_800_000_000_000;
      // The provider is 2.5 s behind. Seen at a local time in the first half of a second, the
      // interval is proven past -2 s, but by less than a second: at the threshold.
      const behind = (local: number) =>
        answer(local - (CLOCK_SKEW_THRESHOLD_SECONDS + 0.5) * 1000, local);
      behind(now);
      assert.equal(getClockSkew(), 0, 'not on one sample');
      answer(now + 200, now + 200);
      behind(now + 1_400);
      assert.equal(getClockSkew(), 0, 'the sample before agreed: still one sample');
      behind(now + 2_300);
      assert.equal(getClockSkew(), -4, 'two in a row (the lower bound, rounded down)');
      assert.equal(warnings.filter((w) => w.includes('clock skew')).length, 1);
    },
  );

  it('a clear offset acts at once, follows the provider, and returns to 0 when the clock is fixed', () => {
    const now = 1_800_000_000_000;
    answer(now + 500, now);
    assert.equal(getClockSkew(), 0, 'within the header’s resolution');
    answer(now - 90_000, now);
    assert.equal(getClockSkew(), -90, 'this machine runs 90 s fast');
    answer(now + 120_000, now);
    assert.equal(getClockSkew(), 120, 'this machine runs 2 minutes slow');
    // A round trip so long that the sample proves nothing: the correction stays.
    answer(now + 10_000, now, now + 30_000);
    assert.equal(getClockSkew(), 120);
    answer(now, now, now + 100);
    assert.equal(getClockSkew(), 0, 'the clock was fixed');
    const lines = warnings.filter((w) => w.includes('clock skew'));
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[2] ?? '', /agrees with the provider’s again/);
  });

  it('does not log again while the offset only wobbles by the header’s resolution', () => {
    const base = 1_800_000_000_000;
    for (let i = 0; i < 50; i++) {
      const now = base + i * 137;
      answer(now - 120_000, now, now + (i % 7) * 60);
    }
    assert.ok(getClockSkew() <= -120 && getClockSkew() >= -122);
    assert.equal(warnings.filter((w) => w.includes('clock skew')).length, 1);
  });
});

describe('the assertion’s validity window', () => {
  let keys: ClientKeySet;
  before(async () => {
    keys = await loadClientKeySet(writeClientKeyFile('rp-skew-window-'));
  });

  it('stays `lifetime` long and current on the provider’s clock, whatever the responses said', async () => {
    const lifetimeSeconds = 60;
    const auth = createClientAuthentication(
      { alg: undefined, audience: { mode: 'issuer' }, typ: true, x5tSha1: false, lifetimeSeconds },
      { keys: async () => keys, clockSkew: getClockSkew },
    );
    const as = { issuer: 'https://idp.example.com', token_endpoint: TOKEN_ENDPOINT };
    // Each case: what the provider's clock really reads (offset from this machine's), and the Date
    // its token endpoint sent; hostile or stale Dates are refused, so the true offset stays 0.
    const cases: Array<{ trueOffset: number; date: number; name: string }> = [
      { name: 'clocks agree', trueOffset: 0, date: 0 },
      { name: 'provider 2 minutes ahead', trueOffset: 120, date: 120 },
      { name: 'provider 2 minutes behind', trueOffset: -120, date: -120 },
      { name: 'a 10-minute-old Date', trueOffset: 0, date: -600 },
      { name: 'a Date in 2100', trueOffset: 0, date: Date.UTC(2100, 0, 1) / 1000 },
    ];
    for (const c of cases) {
      resetClockSkew();
      configureClockSkew({ maxSeconds: 300, tokenEndpoint: TOKEN_ENDPOINT });
      const now = Date.now();
      const dateMs = c.date > 1e9 ? c.date * 1000 : now + c.date * 1000;
      answer(dateMs, now);
      const body = new URLSearchParams();
      await auth(as as never, { client_id: 'c' } as never, body, new Headers());
      const { iat, nbf, exp } = decodeJwt(body.get('client_assertion') ?? '');
      assert.ok(typeof iat === 'number' && typeof nbf === 'number' && typeof exp === 'number');
      assert.equal(exp - nbf, lifetimeSeconds, c.name);
      assert.equal(exp - iat, lifetimeSeconds, c.name);
      const providerNow = Date.now() / 1000 + c.trueOffset;
      assert.ok(iat <= providerNow, `${c.name}: iat ${iat} is in the provider's future`);
      assert.ok(iat >= providerNow - 3, `${c.name}: iat ${iat} is too far in the past`);
      assert.ok(exp > providerNow + lifetimeSeconds - 3, `${c.name}: exp ${exp} too early`);
    }
  });
});

describe('through the back channel (a real HTTP server)', () => {
  let server: Server;
  let origin: string;
  /** The Date the server sends on each endpoint. */
  const dates = { jwks: '', token: '' };
  let age: string | undefined;

  before(async () => {
    server = createServer((req, res) => {
      const token = req.method === 'POST' && req.url === '/token';
      res.setHeader('date', token ? dates.token : dates.jwks);
      if (age !== undefined) res.setHeader('age', age);
      res.setHeader('content-type', 'application/json');
      res.end(token ? '{"error":"invalid_request"}' : '{"keys":[]}');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => server.close());

  it('a JWKS response dated 2100 or ten minutes ago moves nothing; a token response does', async () => {
    configureClockSkew({ maxSeconds: 300, tokenEndpoint: `${origin}/token` });
    age = undefined;
    dates.jwks = new Date(Date.UTC(2100, 0, 1)).toUTCString();
    await (await backChannelFetch(`${origin}/jwks`, {})).text();
    dates.jwks = new Date(Date.now() - 600_000).toUTCString();
    await (await backChannelFetch(`${origin}/jwks`, {})).text();
    assert.equal(getClockSkew(), 0);
    assert.equal(hasClockSample(), false);

    dates.token = new Date(Date.now() - 120_000).toUTCString();
    age = '0';
    await (await backChannelFetch(`${origin}/token`, { method: 'POST', body: 'x=1' })).text();
    assert.equal(getClockSkew(), 0, 'a token response with Age came from a cache');

    age = undefined;
    await (await backChannelFetch(`${origin}/token`, { method: 'POST', body: 'x=1' })).text();
    assert.ok(getClockSkew() <= -119 && getClockSkew() >= -122, `skew ${getClockSkew()}`);
  });
});
