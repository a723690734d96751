/**
 * Deterministic hostile input: a seeded PRNG and generators for query strings, percent-escapes,
 * redirect targets and cookies. The same seed gives the same cases, so a failure reproduces with
 * `FUZZ_SEED=<seed>`.
 */

export type Random = {
  /** [0, 1) */
  next(): number;
  int(maxExclusive: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
};

/** mulberry32: tiny, fast and good enough to spread test inputs. */
export function createSeededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (max) => Math.floor(next() * max),
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    chance: (p) => next() < p,
  };
}

/** Raw percent-escapes that are not valid UTF-8, or not valid escapes at all. */
export const BAD_ESCAPES = [
  '%FF',
  '%C3%28',
  '%E0%80%AF',
  '%C0%AF',
  '%ED%A0%80',
  '%F8%88%80%80%80',
  '%80',
  '%',
  '%G1',
  '%%',
  '%2',
  '%u002F',
  '%00',
  '%FE%FF',
] as const;

/** Redirect targets that must never lead off the app's origin (decoded values). */
export function listHostileReturnTos(appOrigin: string): string[] {
  const host = 'evil.example';
  const appHost = new URL(appOrigin).host;
  return [
    `https://${host}`,
    `http://${host}/profile`,
    `HTTPS://${host}`,
    `//${host}`,
    `///${host}`,
    `////${host}/x`,
    `/\\${host}`,
    `\\\\${host}`,
    `/\\/${host}`,
    `\\/${host}`,
    `/\t/${host}`,
    `/\n/${host}`,
    `/\r\n/${host}`,
    `\t//${host}`,
    ` //${host}`,
    `/%2F/${host}`,
    `/%2f%2f${host}`,
    `%2F%2F${host}`,
    `/%5C${host}`,
    `/%5C%5C${host}`,
    `/%09/${host}`,
    `/.//${host}`,
    `/..//${host}`,
    `/./\\${host}`,
    `/%2e%2e//${host}`,
    `javascript:alert(document.domain)`,
    `JaVaScRiPt:alert(1)`,
    `java\tscript:alert(1)`,
    `data:text/html,<script>alert(1)</script>`,
    `vbscript:msgbox(1)`,
    `https:${host}`,
    `http:/${host}`,
    `https:/\\${host}`,
    `${host}`,
    `@${host}`,
    `/@${host}`,
    `${appOrigin}@${host}`,
    `http://${appHost}.${host}/`,
    `${appOrigin}/profile`,
    `/\u3002${host}`,
    `//${host}\u3002com`,
    `/\u2215\u2215${host}`,
    `/\uFF0F\uFF0F${host}`,
    `/\u0000/${host}`,
    `/auth/logout`,
    `/auth/callback?code=injected&state=x`,
    `/auth/login?returnTo=//${host}`,
    `/${'a'.repeat(600)}`,
    `/profile#//${host}`,
    `/profile?next=//${host}`,
  ];
}

/** A random mutation of a redirect target: encodings, prefixes, case, control characters. */
export function mutateReturnTo(random: Random, base: string): string {
  switch (random.int(8)) {
    case 0:
      return encodeURIComponent(base);
    case 1:
      return base.replace(/\//g, () => random.pick(['/', '\\', '%2F', '%5C', '/\t', '//']));
    case 2:
      return `${random.pick(['', ' ', '\t', '\n', '\u0000', '\u00a0', '\ufeff'])}${base}`;
    case 3:
      return base.toUpperCase();
    case 4:
      return [...base]
        .map((c) => (random.chance(0.3) ? `%${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c))
        .join('');
    case 5:
      return `${base}${random.pick(['#', '?', '%00', '/..', '\\', `@evil.example`])}`;
    case 6:
      return base.slice(0, random.int(base.length + 1));
    default:
      return base;
  }
}

/** Printable junk of `length`, sometimes with Latin-1 bytes. */
export function randomJunk(random: Random, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out += String.fromCharCode(
      random.chance(0.05) ? 0xa0 + random.int(0x5f) : 0x21 + random.int(0x5e),
    );
  }
  return out;
}

/** A query-string value as sent on the wire: encoded, raw, bad escapes or huge. */
export function encodeForWire(random: Random, decoded: string): string {
  switch (random.int(6)) {
    case 0:
      return encodeURIComponent(decoded);
    case 1:
      return encodeURIComponent(encodeURIComponent(decoded));
    case 2:
      return `${encodeURIComponent(decoded)}${random.pick(BAD_ESCAPES)}`;
    case 3:
      return random.pick(BAD_ESCAPES).repeat(1 + random.int(4));
    case 4:
      return 'A'.repeat(random.pick([1024, 4096, 9000]));
    default:
      // Raw, with only what a URL cannot carry at all escaped (fetch would refuse or strip it).
      return decoded.replace(/[\s#&%\u0000-\u001f\u007f-\uffff]/g, (c) => encodeURIComponent(c));
  }
}

/** Variants of a cookie value: bit flips, truncation, padding, duplication, garbage. */
export function tamperCookie(random: Random, value: string): string {
  switch (random.int(9)) {
    case 0: {
      const i = random.int(value.length);
      const c = value[i] === 'A' ? 'B' : 'A';
      return `${value.slice(0, i)}${c}${value.slice(i + 1)}`;
    }
    case 1:
      return value.slice(0, random.int(value.length));
    case 2:
      return `${value}${randomJunk(random, 1 + random.int(20))}`.replace(/[;,\s]/g, 'x');
    case 3:
      return value.replace(/\*/g, () => random.pick(['*', '**', '', '~']));
    case 4:
      return 'Fe26.2**' + randomJunk(random, 40 + random.int(200)).replace(/[;,\s]/g, '*');
    case 5:
      return 'A'.repeat(random.pick([100, 3000, 8000]));
    case 6:
      return '';
    case 7:
      return value.split('').reverse().join('');
    default:
      return encodeURIComponent(value);
  }
}
