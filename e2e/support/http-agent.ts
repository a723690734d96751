/**
 * A browser without the browser: plain HTTP requests with a cookie jar, redirects followed by
 * hand. Protocol-level tests run dozens of sign-ins through it in the time a real browser takes
 * for a few, and see every redirect, status and Set-Cookie on the way.
 *
 * The jar keeps cookies by name only (every cookie here is host-only, `Path=/`, on one loopback
 * host name; like a browser, it ignores ports).
 */

export type HttpResponse = {
  readonly url: string;
  readonly status: number;
  readonly headers: Headers;
  /** Absolute redirect target, when the response is a redirect. */
  readonly location: string | undefined;
  readonly body: string;
  /** Names of the cookies this response set to a non-empty value. */
  readonly cookiesSet: readonly string[];
};

export type RequestOptions = {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Send this exact Cookie header instead of the jar's. */
  readonly cookieHeader?: string;
  /** Abort after this many milliseconds (default 30 s). */
  readonly timeoutMs?: number;
};

export class HttpAgent {
  private readonly jar = new Map<string, string>();

  /** The jar's value of cookie `name`. */
  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  /** The names of the cookies in the jar. */
  cookieNames(): string[] {
    return [...this.jar.keys()];
  }

  setCookie(name: string, value: string): void {
    this.jar.set(name, value);
  }

  deleteCookie(name: string): void {
    this.jar.delete(name);
  }

  cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** One request, no redirect followed. Stores the cookies it sets. */
  async request(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const cookie = options.cookieHeader ?? this.cookieHeader();
    const response = await fetch(url, {
      method: options.method ?? 'GET',
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), ...options.headers },
      body: options.body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    const cookiesSet = this.store(response.headers.getSetCookie());
    const location = response.headers.get('location');
    return {
      url,
      status: response.status,
      headers: response.headers,
      location: location === null ? undefined : new URL(location, url).href,
      body: await response.text(),
      cookiesSet,
    };
  }

  private store(setCookies: string[]): string[] {
    const set: string[] = [];
    for (const header of setCookies) {
      const [pair = '', ...attributes] = header.split(';');
      const index = pair.indexOf('=');
      if (index <= 0) continue;
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const expired = attributes.some((a) => {
        const [key = '', raw = ''] = a.split('=').map((s) => s.trim());
        if (key.toLowerCase() === 'max-age') return Number(raw) <= 0;
        if (key.toLowerCase() === 'expires') return Date.parse(raw) <= Date.now();
        return false;
      });
      if (expired || value === '') {
        this.jar.delete(name);
      } else {
        this.jar.set(name, value);
        set.push(name);
      }
    }
    return set;
  }
}
