import * as client from 'openid-client';

import { readUpTo } from './bounded-body';
import { oneLine } from './errors';

/**
 * Does the provider take this client's authorization request? `npm run doctor` sends one, as a
 * browser would (client_id, redirect_uri, PKCE S256, state, nonce), and reads what comes back
 * without signing anyone in.
 *
 * A provider refuses an unknown client or an unregistered redirect URI with an error page of its
 * own and never redirects there (OAuth 2.0 forbids redirecting to an unverified URI: RFC 6749
 * §4.1.2.1); other errors come back to the redirect URI as `error=…`. A provider that accepts the
 * request shows a login page, usually after redirects on its own origin. A page shown with status
 * 200 that has no password field may be either a login page of another kind or an error page, and
 * the check says that it cannot tell them apart.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 */

export type AuthorizationCheck = {
  /**
   * `accepted`: a login page (or a redirect back with a code). `refused`: an error page or an
   * error sent back. `unclear`: cannot be told apart from here.
   */
  readonly outcome: 'accepted' | 'refused' | 'unclear';
  readonly message: string;
  /** The authorization request URL (to open in a browser). */
  readonly url: string;
  /** Each response met: status, where it pointed, the page title. */
  readonly hops: readonly string[];
  /** The provider's own words (error, error_description, page title). */
  readonly providerSaid?: string | undefined;
};

const MAX_HOPS = 6;
const MAX_PAGE_BYTES = 256 * 1024;

function pageTitle(html: string): string | undefined {
  const match = /<title[^>]*>([^<]{1,200})<\/title>/i.exec(html);
  return match?.[1] ? oneLine(match[1]).replace(/\s+/g, ' ').trim() || undefined : undefined;
}

/** A password input: the structural mark of a login form. */
function hasPasswordField(html: string): boolean {
  return /<input\b[^>]*\btype\s*=\s*["']?password\b/i.test(html);
}

/** Cookies set along the way, sent back to the same origin (the provider's interaction cookies). */
function rememberCookies(jar: Map<string, string>, response: Response): void {
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
}

/**
 * The first {@link MAX_PAGE_BYTES} of a page, as decoded (fetch decompresses as it is read).
 * MUST: read no further: the page comes from whatever the authorization endpoint is, and a body
 * that never ends, or a small compressed one that inflates to gigabytes, would otherwise hold the
 * check until its deadline with all of it in memory.
 */
async function readPage(response: Response): Promise<string> {
  if (!response.body) return '';
  const { bytes } = await readUpTo(response.body, MAX_PAGE_BYTES);
  return new TextDecoder().decode(bytes.subarray(0, MAX_PAGE_BYTES));
}

/**
 * Sends one authorization request and follows the provider's redirects on its own origin.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 */
export async function checkAuthorizationEndpoint(
  config: client.Configuration,
  options: { redirectUri: string; scope: string; timeoutMs: number },
): Promise<AuthorizationCheck> {
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: options.redirectUri,
    scope: options.scope,
    response_type: 'code',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    state: client.randomState(),
    nonce: client.randomNonce(),
  });
  const origin = url.origin;
  const hops: string[] = [];
  const jar = new Map<string, string>();
  let current = url;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(current, {
      redirect: 'manual',
      headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) },
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    rememberCookies(jar, response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const next = new URL(location, current);
      hops.push(`${response.status} → ${next.origin}${next.pathname}`);
      if (`${next.origin}${next.pathname}` === options.redirectUri) {
        // MUST: the provider's words on one line without control characters (a terminal escape,
        // a forged line): the doctor prints them; RFC 6749 §4.1.2.1 allows none there.
        const rawError = next.searchParams.get('error');
        const error = rawError ? oneLine(rawError).slice(0, 100) : undefined;
        if (error) {
          const rawDescription = next.searchParams.get('error_description');
          const description = rawDescription ? oneLine(rawDescription).slice(0, 500) : undefined;
          return {
            outcome: 'refused',
            message:
              `the provider sent the browser back with error=${error}: it knows the client and the ` +
              `redirect URI, but refused the request`,
            url: url.href,
            hops,
            providerSaid: description ? `${error}: ${description}` : error,
          };
        }
        return {
          outcome: 'accepted',
          message: 'the provider sent the browser back with a code',
          url: url.href,
          hops,
        };
      }
      if (next.origin !== origin) {
        return {
          outcome: 'accepted',
          message:
            `the provider redirected to ${next.origin} (its login service, presumably): client_id and ` +
            `redirect_uri passed its first checks, but whether that page is a login page or an error cannot be ` +
            `told from here`,
          url: url.href,
          hops,
        };
      }
      current = next;
      continue;
    }
    const type = response.headers.get('content-type') ?? '';
    const html = type.includes('html') ? await readPage(response) : '';
    if (!type.includes('html')) await response.body?.cancel();
    const title = pageTitle(html);
    hops.push(
      `${response.status}${type ? ` ${type.split(';')[0]}` : ''}${title ? ` "${title}"` : ''}`,
    );
    if (response.status >= 400) {
      return {
        outcome: 'refused',
        message:
          `the provider answered the authorization request with ${response.status}: it does not take this ` +
          `client_id or redirect_uri (register ${options.redirectUri} for this client), or another parameter`,
        url: url.href,
        hops,
        providerSaid: title,
      };
    }
    if (response.status === 200 && hasPasswordField(html)) {
      return {
        outcome: 'accepted',
        message:
          'the provider shows a login page (a password field): it took client_id and redirect_uri',
        url: url.href,
        hops,
      };
    }
    return {
      outcome: 'unclear',
      message:
        `the provider answered ${response.status} with a page without a password field: a login page of ` +
        `another kind and an error page shown with status 200 cannot be told apart from here; open the URL in a ` +
        `browser`,
      url: url.href,
      hops,
      providerSaid: title,
    };
  }
  return {
    outcome: 'unclear',
    message: `more than ${MAX_HOPS} redirects on the provider's origin`,
    url: url.href,
    hops,
  };
}
