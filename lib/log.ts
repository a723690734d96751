/**
 * Minimal structured logging to stdout/stderr.
 *
 * MUST: logs never carry a private key, the session secret, a whole token or an authorization
 * code. Callers pass explicit, safe fields; {@link redact} is a second line of defence that
 * shortens anything shaped like a JWT or a long opaque secret.
 */

import { processSingleton } from './process-slot';

type Fields = Readonly<Record<string, string | number | boolean | undefined>>;

const JWT_LIKE = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g;
const PEM_LIKE = /-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g;
const LONG_OPAQUE = /\b[A-Za-z0-9_-]{40,}\b/g;

/** Removes token-, key- and secret-shaped substrings from a log line. */
export function redact(text: string): string {
  return text
    .replace(PEM_LIKE, '[redacted PEM]')
    .replace(JWT_LIKE, (jwt) => `${jwt.slice(0, 10)}…[redacted JWT]`)
    .replace(LONG_OPAQUE, (s) => `${s.slice(0, 4)}…[redacted]`);
}

/**
 * Whitespace, quotes and control characters (C0, DEL, C1): such a value is written quoted. The
 * line and paragraph separators (U+2028, U+2029) are whitespace for `\s`.
 */
const NEEDS_QUOTES = /[\s"\u0000-\u001f\u007f-\u009f]/;

/**
 * A field value as written: bare, or JSON-quoted with every control character escaped. MUST: a
 * value can come from a provider (an error description) or a request; written raw, a line break
 * would forge a log line and an escape sequence would reach the operator's terminal.
 */
function formatValue(value: string | number | boolean): string {
  if (typeof value !== 'string' || !NEEDS_QUOTES.test(value)) return String(value);
  // JSON escapes C0 controls and quotes; DEL, the C1 range and the line and paragraph separators
  // it leaves as they are. MUST: those two as well, line splitters (Python's splitlines, JavaScript,
  // log viewers) end a line there.
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function format(event: string, fields: Fields = {}): string {
  const parts = Object.entries(fields).flatMap(([k, v]) =>
    v === undefined ? [] : [`${k}=${formatValue(v)}`],
  );
  return redact(`[rp] ${event}${parts.length ? ` ${parts.join(' ')}` : ''}`);
}

/** One-line, log-safe description of an error and its causes (messages and codes only). */
export function describeError(err: unknown): string {
  const seen = new Set<unknown>();
  const out: string[] = [];
  let current: unknown = err;
  while (current instanceof Error && !seen.has(current) && out.length < 5) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    out.push(`${current.name}${typeof code === 'string' ? `[${code}]` : ''}: ${current.message}`);
    current = current.cause;
  }
  return redact(out.join(' <- ') || String(err));
}

/**
 * Info lines formatted and not written yet (see {@link log}), once per process: every bundle
 * writes into the same queue, so the order of lines holds across them.
 */
type PendingInfo = { lines: string[]; scheduled: boolean };

const pendingInfo = processSingleton('log:pending-info', (): PendingInfo => {
  const pending: PendingInfo = { lines: [], scheduled: false };
  // Whatever ends the process (process.exit, an uncaught exception), its last lines are written.
  process.once('exit', () => writePendingInfo(pending));
  return pending;
});

function writePendingInfo(pending: PendingInfo): void {
  pending.scheduled = false;
  const { lines } = pending;
  if (lines.length === 0) return;
  pending.lines = [];
  for (const line of lines) console.log(line);
}

/**
 * One line per event: `[rp] <event> name=value …`, values quoted and escaped when they need it,
 * the whole line passed through {@link redact}. MUST: callers pass fields chosen to be safe (ids
 * shortened, no token, code, assertion, cookie or secret); redaction only catches what slips.
 *
 * Info lines are formatted at once and written once the current turn of the event loop is over
 * (`setImmediate`), not on the request's path: Node.js writes stdout synchronously when it is a
 * pipe or a file, and each line cost about 0.1 ms there (a system call, behind Next.js's console
 * wrappers), three per sign-in. Every line is still written, in order: a warning or an error
 * writes the info lines before it first, and the process's exit writes those left.
 */
export const log = {
  info(event: string, fields?: Fields): void {
    const pending = pendingInfo;
    pending.lines.push(format(event, fields));
    if (pending.scheduled) return;
    pending.scheduled = true;
    setImmediate(writePendingInfo, pending);
  },
  warn(event: string, fields?: Fields): void {
    writePendingInfo(pendingInfo);
    console.warn(format(event, fields));
  },
  error(event: string, fields?: Fields): void {
    writePendingInfo(pendingInfo);
    console.error(format(event, fields));
  },
};

/** A banner for development defaults that must not go unnoticed. */
export function warnLoudly(message: string): void {
  writePendingInfo(pendingInfo);
  const bar = '!'.repeat(Math.min(100, message.length + 8));
  console.warn(`\n${bar}\n!!! ${message}\n${bar}\n`);
}
