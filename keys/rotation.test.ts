import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { loadClientKeySet } from '../lib/keys';
import { assertionLifetimeFromEnv, generatePrivateJwk, runKeyTool, writeKeySet } from './cli';
import {
  earliestPromotion,
  earliestRetirement,
  promote,
  publishBeforeSigningSeconds,
  PUBLISH_BEFORE_SIGNING_SECONDS,
  retire,
  RETIRE_MARGIN_SECONDS,
  rotateIn,
  RotationError,
  type PrivateJwk,
} from './rotation';

function kids(keys: readonly PrivateJwk[]): string {
  return keys.map((k) => `${k.kid}${k.rotation ? `(${k.rotation.state})` : ''}`).join(' ');
}

const key = (kid: string): PrivateJwk => ({
  kty: 'OKP',
  crv: 'Ed25519',
  x: kid,
  d: kid,
  kid,
  alg: 'EdDSA',
  use: 'sig',
});

describe('key rotation steps', () => {
  it('rotate → promote → retire moves a key from published to signing and the old one out', () => {
    const t0 = new Date('2026-11-28T10:00:00Z');
    const rotated = rotateIn({ keys: [key('A')] }, key('B'), t0);
    assert.equal(kids(rotated.keys), 'A B(next)');
    const earliest = earliestPromotion(rotated.keys[1] as PrivateJwk);
    assert.equal(
      earliest?.toISOString(),
      new Date(t0.getTime() + PUBLISH_BEFORE_SIGNING_SECONDS * 1000).toISOString(),
    );

    assert.throws(
      () => promote(rotated, { now: new Date(t0.getTime() + 10_000) }),
      (err: unknown) =>
        err instanceof RotationError &&
        /Promote at 2026-11-28T10:01:05.000Z \(in 55 s\)/.test(err.message),
    );
    const { set: promoted, promoted: b, demoted: a } = promote(rotated, { now: earliest });
    assert.equal(kids(promoted.keys), 'B A(previous)');
    assert.equal(b.kid, 'B');
    assert.equal(a.kid, 'A');

    // retire: not while an assertion A signed may still be accepted (reload 1 s + lifetime 60 s).
    const retireAt = earliestRetirement(promoted, 60);
    assert.equal(
      retireAt?.toISOString(),
      new Date((earliest?.getTime() ?? 0) + (1 + 60 + RETIRE_MARGIN_SECONDS) * 1000).toISOString(),
    );
    assert.throws(
      () =>
        retire(promoted, {
          lifetimeSeconds: 60,
          now: new Date((retireAt?.getTime() ?? 0) - 30_000),
        }),
      (err: unknown) =>
        err instanceof RotationError &&
        /A may still be valid/.test(err.message) &&
        /Retire at 2026-11-28T10:02:11.000Z \(in 30 s\)/.test(err.message),
    );
    const { set: retired, retired: gone } = retire(promoted, {
      lifetimeSeconds: 60,
      now: retireAt,
    });
    assert.equal(kids(retired.keys), 'B');
    assert.deepEqual(
      gone.map((k) => k.kid),
      ['A'],
    );
  });

  it('waits what the JWKS max-age asks: publish-before-sign follows OIDC_CLIENT_JWKS_MAX_AGE', () => {
    const t0 = new Date('2026-11-28T10:00:00Z');
    const rotated = rotateIn({ keys: [key('A')] }, key('B'), t0);
    const publishSeconds = publishBeforeSigningSeconds(10);
    assert.equal(publishSeconds, 15);
    assert.equal(PUBLISH_BEFORE_SIGNING_SECONDS, publishBeforeSigningSeconds(60));
    assert.equal(
      earliestPromotion(rotated.keys[1] as PrivateJwk, publishSeconds)?.toISOString(),
      '2026-11-28T10:00:15.000Z',
    );
    assert.throws(
      () => promote(rotated, { now: new Date(t0.getTime() + 14_000), publishSeconds }),
      /published for less than 15 s; .*Promote at 2026-11-28T10:00:15.000Z \(in 1 s\)/,
    );
    assert.equal(
      kids(promote(rotated, { now: new Date(t0.getTime() + 15_000), publishSeconds }).set.keys),
      'B A(previous)',
    );
  });

  it('refuses steps out of order, with what to do instead', () => {
    const rotated = rotateIn({ keys: [key('A')] }, key('B'));
    assert.throws(() => rotateIn(rotated, key('C')), /B is already waiting to be promoted/);
    assert.throws(
      () => promote({ keys: [key('A')] }),
      /no key is waiting to be promoted: run `rotate` first/,
    );
    assert.throws(
      () => retire({ keys: [key('A')] }, { lifetimeSeconds: 60 }),
      /no previous key to retire/,
    );
    assert.throws(
      () => retire(rotated, { lifetimeSeconds: 60 }),
      /no previous key to retire/,
      'the next key is not retired',
    );
    assert.throws(() => rotateIn({ keys: [key('A')] }, key('A')), /already holds kid A/);
    assert.equal(
      kids(promote(rotated, { force: true }).set.keys),
      'B A(previous)',
      '--force skips the wait',
    );
  });

  it('treats a rotation time it cannot read as "not yet", for promote and for retire', () => {
    const t0 = new Date('2026-11-28T10:00:00Z');
    const late = new Date('2030-01-01T00:00:00Z');
    for (const since of ['', 'soon', '2026-13-45T99:00:00Z', undefined]) {
      const next = { ...key('B'), rotation: { state: 'next', since } } as PrivateJwk;
      assert.throws(
        () => promote({ keys: [key('A'), next] }, { now: late }),
        /no readable rotation time .* Pass --force/,
        `promote with since ${String(since)}`,
      );
      assert.equal(
        kids(promote({ keys: [key('A'), next] }, { now: late, force: true }).set.keys),
        'B A(previous)',
      );
      const previous = { ...key('A'), rotation: { state: 'previous', since } } as PrivateJwk;
      assert.throws(
        () => retire({ keys: [key('B'), previous] }, { lifetimeSeconds: 60, now: late }),
        /no readable rotation time .* Pass --force/,
        `retire with since ${String(since)}`,
      );
      assert.equal(
        kids(retire({ keys: [key('B'), previous] }, { lifetimeSeconds: 60, force: true }).set.keys),
        'B',
      );
    }
    // A readable time long past opens both gates.
    const old = { ...key('B'), rotation: { state: 'next', since: t0.toISOString() } } as PrivateJwk;
    assert.equal(kids(promote({ keys: [key('A'), old] }, { now: late }).set.keys), 'B A(previous)');
  });

  it('reads only the RFC 3339 time it writes: text that Date.parse guesses at keeps gates shut', () => {
    const late = new Date('2030-01-01T00:00:00Z');
    // V8's Date.parse reads each of these as a date in 2001 or at the start of a year or a day,
    // long past: a lenient read would open the gate on a time nobody wrote.
    for (const since of ['soon 5', 'rotated 1', '1', '2026', 'Dec 2026', '2026-12-01', '12/01']) {
      const next = { ...key('B'), rotation: { state: 'next', since } } as PrivateJwk;
      assert.throws(
        () => promote({ keys: [key('A'), next] }, { now: late }),
        /no readable rotation time .* Pass --force/,
        `promote with since ${since}`,
      );
      const previous = { ...key('A'), rotation: { state: 'previous', since } } as PrivateJwk;
      assert.throws(
        () => retire({ keys: [key('B'), previous] }, { lifetimeSeconds: 60, now: late }),
        /no readable rotation time .* Pass --force/,
        `retire with since ${since}`,
      );
    }
    // What the tool writes, and the same instant with an offset, still open them.
    for (const since of ['2026-11-28T10:00:00.000Z', '2026-11-28T11:00:00+01:00']) {
      const next = { ...key('B'), rotation: { state: 'next', since } } as PrivateJwk;
      assert.equal(
        kids(promote({ keys: [key('A'), next] }, { now: late }).set.keys),
        'B A(previous)',
      );
    }
  });

  it('does not retire a key that stopped signing at a time it cannot know (no rotation mark)', () => {
    const late = new Date('2030-01-01T00:00:00Z');
    // Hand-promoted: B moved first, A after it without a `previous` mark. A may still be signing
    // (the app reloads within a second) and what it signed is valid for an assertion lifetime.
    for (const a of [
      key('A'),
      { ...key('A'), rotation: { state: 'Previous', since: late.toISOString() } },
    ]) {
      const set = { keys: [key('B'), a as PrivateJwk] };
      assert.throws(
        () => retire(set, { lifetimeSeconds: 60, now: late }),
        /no readable rotation time .* Pass --force/,
        JSON.stringify(a.rotation),
      );
      assert.equal(
        kids(retire(set, { lifetimeSeconds: 60, now: late, force: true }).set.keys),
        'B',
      );
    }
  });

  it('promote still reports on a key set holding an older unreadable rotation time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rp-keytool-'));
    const file = join(dir, 'old.private.jwks.json');
    const [a, b, c] = await Promise.all([
      generatePrivateJwk('ES256'),
      generatePrivateJwk('ES256'),
      generatePrivateJwk('ES256'),
    ]);
    const keys: PrivateJwk[] = [
      a,
      { ...b, rotation: { state: 'next', since: '2026-01-01T00:00:00Z' } },
      { ...c, rotation: { state: 'previous', since: 'a while ago' } },
    ];
    await writeKeySet(keys, file);
    const printed: string[] = [];
    const original = console.log;
    console.log = (...parts: unknown[]) => printed.push(parts.join(' '));
    try {
      await runKeyTool(['promote', '--file', file]);
    } finally {
      console.log = original;
    }
    assert.equal((await loadClientKeySet(file)).signing.kid, b?.kid);
    assert.match(printed.join('\n'), /no readable rotation time/);
  });

  it('reads the assertion lifetime as the app does', () => {
    assert.equal(assertionLifetimeFromEnv({}), 60);
    assert.equal(assertionLifetimeFromEnv({ OIDC_CLIENT_ASSERTION_LIFETIME: ' 300 ' }), 300);
    for (const bad of ['4', '301', '1.5', 'soon'])
      assert.throws(
        () => assertionLifetimeFromEnv({ OIDC_CLIENT_ASSERTION_LIFETIME: bad }),
        /OIDC_CLIENT_ASSERTION_LIFETIME/,
      );
  });

  it('waits for the configured assertion lifetime before retiring', () => {
    const promotedAt = new Date('2026-11-28T10:00:00Z');
    const set = {
      keys: [
        key('B'),
        { ...key('A'), rotation: { state: 'previous', since: promotedAt.toISOString() } },
      ],
    } as { keys: PrivateJwk[] };
    for (const lifetimeSeconds of [5, 60, 300]) {
      const gate = promotedAt.getTime() + (lifetimeSeconds + 1 + RETIRE_MARGIN_SECONDS) * 1000;
      assert.throws(
        () => retire(set, { lifetimeSeconds, now: new Date(gate - 1) }),
        /may still be valid/,
      );
      assert.equal(kids(retire(set, { lifetimeSeconds, now: new Date(gate) }).set.keys), 'B');
    }
  });
});

describe('npm run keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rp-keytool-'));

  /** Runs the tool in this process and returns what it printed. */
  async function run(...args: string[]): Promise<string> {
    const printed: string[] = [];
    const original = console.log;
    console.log = (...parts: unknown[]) => printed.push(parts.join(' '));
    try {
      await runKeyTool(args);
    } finally {
      console.log = original;
    }
    return printed.join('\n');
  }

  it('runs as a command and exits non-zero with the reason on a refusal', () => {
    const file = join(dir, 'missing.private.jwks.json');
    assert.throws(
      () =>
        execFileSync(
          process.execPath,
          ['--import', 'tsx', 'keys/cli.ts', 'promote', '--file', file],
          { encoding: 'utf8', stdio: 'pipe' },
        ),
      (err: unknown) =>
        (err as { status?: number }).status === 1 &&
        /keys: .*ENOENT/.test(String((err as { stderr?: unknown }).stderr)),
    );
  });

  it('generates keys with certificates that the app loads, and prints what signs and what is published', async () => {
    const file = join(dir, 'client.private.jwks.json');
    const out = await run('generate', '--alg', 'ES256', '--cert', '--file', file);
    const set = await loadClientKeySet(file);
    assert.equal(set.signing.alg, 'ES256');
    assert.ok(set.signing.certificate, 'the key carries its certificate');
    assert.match(out, new RegExp(`SIGNS\\s+kid=${set.signing.kid}\\s+alg=ES256`));
    assert.match(out, new RegExp(`x5t#S256: ${set.signing.certificate.x5tS256}`));
    assert.match(out, /-----BEGIN CERTIFICATE-----/);
    assert.match(readFileSync(join(dir, 'client.cert.pem'), 'utf8'), /-----BEGIN CERTIFICATE-----/);
    const published = JSON.parse(readFileSync(join(dir, 'client.public.jwks.json'), 'utf8')) as {
      keys: Array<{ kid: string; d?: string }>;
    };
    assert.deepEqual(
      published.keys.map((k) => k.kid),
      [set.signing.kid],
    );
    assert.equal(published.keys[0]?.d, undefined);
    await assert.rejects(run('generate', '--file', file), /exists; use `rotate`/);
  });

  it('rotates, refuses an early promote, promotes with --force and retires, reporting each state', async () => {
    const file = join(dir, 'rotating.private.jwks.json');
    await writeKeySet([await generatePrivateJwk('RS256')], file);
    const a = (await loadClientKeySet(file)).signing.kid;
    const rotated = await run('rotate', '--file', file);
    const b = (await loadClientKeySet(file)).keys[1]?.kid;
    assert.ok(b);
    assert.match(rotated, new RegExp(`Published at APP_URL/.well-known/jwks.json: ${a}, ${b}`));
    assert.match(rotated, new RegExp(`Signs client assertions:\\s+${a}`));
    assert.match(rotated, /From .* on: npm run keys -- promote/);
    await assert.rejects(run('promote', '--file', file), /has been published for less than 65 s/);
    // The wait follows the JWKS max-age the app announces.
    process.env.OIDC_CLIENT_JWKS_MAX_AGE = '20';
    try {
      await assert.rejects(run('promote', '--file', file), /has been published for less than 25 s/);
      process.env.OIDC_CLIENT_JWKS_MAX_AGE = 'a minute';
      await assert.rejects(run('promote', '--file', file), /OIDC_CLIENT_JWKS_MAX_AGE/);
    } finally {
      delete process.env.OIDC_CLIENT_JWKS_MAX_AGE;
    }
    const promoted = await run('promote', '--force', '--file', file);
    assert.match(promoted, new RegExp(`Signs client assertions:\\s+${b}`));
    assert.equal((await loadClientKeySet(file)).signing.kid, b);
    assert.match(promoted, /from \S+ on: npm run keys -- retire/);
    await assert.rejects(run('retire', '--file', file), /may still be valid: .* Retire at/);
    const retired = await run('retire', '--force', '--file', file);
    assert.match(retired, new RegExp(`Retired ${a}`));
    assert.deepEqual(
      (await loadClientKeySet(file)).published.map((k) => k.kid),
      [b],
    );
  });

  it('rotates in a certificate valid as long as the signing one, unless --days says otherwise', async () => {
    const file = join(dir, 'short-lived.private.jwks.json');
    await run('generate', '--cert', '--days', '30', '--file', file);
    const validDays = (index: number): number => {
      const { keys } = JSON.parse(readFileSync(file, 'utf8')) as {
        keys: Array<{ x5c?: string[] }>;
      };
      const der = keys[index]?.x5c?.[0];
      assert.ok(der, `key ${index} has a certificate`);
      const cert = new X509Certificate(Buffer.from(der, 'base64'));
      return Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000);
    };
    assert.equal(validDays(0), 30);
    await run('rotate', '--file', file);
    assert.equal(validDays(1), 30, 'the same validity as the certificate it will replace');
    await run('promote', '--force', '--file', file);
    await run('retire', '--force', '--file', file);
    await run('rotate', '--days', '90', '--file', file);
    assert.equal(validDays(1), 90);
  });
});
