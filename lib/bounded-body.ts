/**
 * Reads a request body up to a bound. For routes that anyone can POST to (the back-channel logout
 * URI): `request.text()` would buffer whatever a client sends, so a few large requests could
 * exhaust the server's memory before any validation runs.
 */

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
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
