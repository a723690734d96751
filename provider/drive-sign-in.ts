/**
 * A minimal user agent for the bundled provider's own pages: follows the authorization request
 * through login and consent by plain HTTP and returns the redirect to the relying party. Used by
 * protocol-level tests and the benchmark, where a browser would only add time.
 */

export type DriveOptions = {
  readonly login: string;
  readonly password: string;
  /** Answer to the consent page (default allow). */
  readonly consent?: 'allow' | 'deny';
  /** Where the provider finally redirects (the app's redirect URI, without query). */
  readonly redirectUri: string;
  /** Keeps the provider's cookies (its session) for later requests, e.g. signing out. */
  readonly jar?: CookieJar;
};

/** The provider's cookies, as a browser would keep them (names and values only). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair = ''] = header.split(';');
      const index = pair.indexOf('=');
      if (index > 0) this.cookies.set(pair.slice(0, index).trim(), pair.slice(index + 1).trim());
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

function formAction(html: string, suffix: string): string {
  const match = new RegExp(`action="(/interaction/[^"]+/${suffix})"`).exec(html);
  if (!match?.[1])
    throw new Error(`no ${suffix} form on the provider page:\n${html.slice(0, 500)}`);
  return match[1];
}

/**
 * Runs the user's part of an authorization request at the bundled provider.
 *
 * @returns the URL the provider redirects the browser to (the callback, with code or error).
 */
export async function driveSignIn(authorizationUrl: URL, options: DriveOptions): Promise<URL> {
  const jar = options.jar ?? new CookieJar();
  let url = authorizationUrl;
  let method = 'GET';
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 12; step++) {
    const response = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        cookie: jar.header(),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body,
    });
    jar.store(response);
    const location = response.headers.get('location');
    if (location) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (`${next.origin}${next.pathname}` === options.redirectUri) return next;
      url = next;
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await response.text();
    if (html.includes('/login"')) {
      url = new URL(formAction(html, 'login'), url);
      body = new URLSearchParams({ login: options.login, password: options.password });
    } else if (html.includes('/confirm"')) {
      url = new URL(formAction(html, options.consent === 'deny' ? 'abort' : 'confirm'), url);
      body = new URLSearchParams();
    } else {
      throw new Error(`unexpected provider page (${response.status}):\n${html.slice(0, 500)}`);
    }
    method = 'POST';
  }
  throw new Error('too many steps at the provider');
}

/**
 * Signs out at the bundled provider as a browser does (RP-initiated logout): its
 * end_session_endpoint with the provider's session cookies in `jar`, then its "sign out?" form,
 * answered yes. The provider sends its back-channel Logout Tokens before it answers.
 *
 * @param params end_session parameters (`id_token_hint`, `post_logout_redirect_uri`, …).
 * @returns where the provider redirects the browser afterwards.
 */
export async function driveSignOut(
  issuer: string,
  jar: CookieJar,
  params: Record<string, string> = {},
): Promise<URL> {
  const endSession = new URL(`${issuer}/session/end`);
  endSession.search = new URLSearchParams(params).toString();
  const page = await fetch(endSession, { headers: { cookie: jar.header() } });
  jar.store(page);
  const html = await page.text();
  const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(html)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  if (!action || !xsrf)
    throw new Error(
      `no sign-out form on the provider page (${page.status}):\n${html.slice(0, 500)}`,
    );
  const confirm = await fetch(new URL(action, endSession), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }),
  });
  jar.store(confirm);
  await confirm.body?.cancel();
  const location = confirm.headers.get('location');
  if (!location) throw new Error(`no redirect after sign-out (${confirm.status})`);
  return new URL(location, endSession);
}
