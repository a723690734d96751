/**
 * Instants shown on the pages. They come from the provider (a JWT's `exp` or `iat`, a token
 * response's `expires_in`) and can be any JSON number, while a Date holds only ±8.64e15 ms:
 * `toISOString()` throws a RangeError beyond that, and a throw while rendering is a 500 (or a
 * blank client page) on every visit for as long as the token lasts.
 */

/**
 * `ms` since the epoch as ISO 8601, or a note that no date represents it. Never throws.
 *
 * @see https://tc39.es/ecma262/#sec-time-values-and-time-range
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-2 (NumericDate: any JSON number)
 */
export function formatInstant(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? 'not a representable date' : date.toISOString();
}
