/**
 * Reading a body up to a bound, for bodies whose size someone else decides: a request anyone can
 * POST (the back-channel logout URI), a provider's answer. `text()` or `arrayBuffer()` would
 * buffer whatever is sent (and, for a compressed answer, whatever it decodes to), so a few large
 * bodies could exhaust the server's memory before any validation runs.
 */

/**
 * Reads `stream` until it ends or holds more than `maxBytes`, then stops; the stream is cancelled
 * when it had more. Never reads more than one chunk past the bound.
 *
 * @returns the bytes read (at most one chunk beyond `maxBytes`), and whether that was all of it.
 */
export async function readUpTo(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<{ readonly bytes: Buffer; readonly whole: boolean }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { bytes: Buffer.concat(chunks), whole: true };
    chunks.push(value);
    total += value.byteLength;
    if (total > maxBytes) {
      // Not awaited: a copy made by `tee()` settles its cancel only once the other copy is
      // cancelled too, which the caller may do next.
      reader.cancel().catch(() => undefined);
      return { bytes: Buffer.concat(chunks), whole: false };
    }
  }
}

/**
 * The body as UTF-8 text, or undefined when it is longer than `maxBytes` (declared by
 * Content-Length or actually sent); reading stops at the bound.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-8.6 (Content-Length)
 */
export async function readBoundedText(
  request: Request,
  maxBytes: number,
): Promise<string | undefined> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > maxBytes) return undefined;
  if (!request.body) return '';
  const { bytes, whole } = await readUpTo(request.body, maxBytes);
  return whole ? bytes.toString('utf8') : undefined;
}
