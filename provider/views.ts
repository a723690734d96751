import { DEMO_ACCOUNTS } from './accounts';

/** Server-rendered pages of the bundled provider: login, consent, logout, errors. */

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font-family:system-ui,sans-serif;background:#eef1f5;color:#1d2430;margin:0}
.box{max-width:26rem;margin:4rem auto;background:#fff;border:1px solid #d5dae2;border-radius:10px;
padding:1.5rem 1.75rem}
h1{font-size:1.3rem;margin:0 0 .25rem} .op{color:#6b7280;font-size:.85rem;margin-bottom:1rem}
label{display:block;margin:.75rem 0 .25rem;font-size:.9rem}
input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #c3c9d3;border-radius:6px;font:inherit}
button{font:inherit;padding:.5rem 1.1rem;border-radius:6px;border:1px solid #0f5132;background:#0f5132;
color:#fff;cursor:pointer;margin-top:1rem}
button.secondary{background:#fff;color:#0f5132}
.error{color:#b3261e;margin:.5rem 0} .muted{color:#6b7280;font-size:.85rem} ul{padding-left:1.2rem}
code{font-family:ui-monospace,monospace}`;

/** A complete HTML page. */
export function page(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Bundled OpenID Provider</title><style>${STYLE}</style></head>
<body><div class="box"><div class="op">Bundled OpenID Provider (oidc-provider)</div>${body}</div></body></html>`;
}

export function loginPage(options: {
  uid: string;
  clientName: string;
  error?: string;
  login?: string;
}): string {
  const accounts = DEMO_ACCOUNTS.map(
    (a) =>
      `<li><code>${escapeHtml(a.login)}</code> / <code>${escapeHtml(a.password)}</code> (${escapeHtml(a.name)})</li>`,
  ).join('');
  return page(
    'Sign in',
    `<h1>Sign in</h1><p class="muted">to continue to <strong>${escapeHtml(options.clientName)}</strong></p>
${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(options.uid)}/login" autocomplete="off">
<label for="login">Username</label>
<input id="login" name="login" required autofocus value="${escapeHtml(options.login ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>
<p class="muted">Demo accounts:</p><ul class="muted">${accounts}</ul>`,
  );
}

export function consentPage(options: {
  uid: string;
  clientName: string;
  scopes: readonly string[];
  login: string;
}): string {
  const scopes = options.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('');
  return page(
    'Consent',
    `<h1>Allow access?</h1><p><strong>${escapeHtml(options.clientName)}</strong> asks,
on behalf of <strong>${escapeHtml(options.login)}</strong>, for:</p>
<ul>${scopes || '<li>nothing new</li>'}</ul>
<form method="post" action="/interaction/${escapeHtml(options.uid)}/confirm">
<button type="submit" autofocus>Allow</button></form>
<form method="post" action="/interaction/${escapeHtml(options.uid)}/abort">
<button type="submit" class="secondary">Deny</button></form>`,
  );
}

export function logoutPage(form: string, host: string): string {
  return page(
    'Sign out',
    `<h1>Sign out of ${escapeHtml(host)}?</h1>${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`,
  );
}

export function loggedOutPage(clientName: string | undefined): string {
  return page(
    'Signed out',
    `<h1>Signed out</h1><p>You are signed out${clientName ? ` of ${escapeHtml(clientName)}` : ''}.</p>`,
  );
}

export function errorPage(error: string, description: string | undefined): string {
  return page(
    'Error',
    `<h1>Something went wrong</h1><p class="error"><code>${escapeHtml(error)}</code></p>` +
      (description ? `<p>${escapeHtml(description)}</p>` : ''),
  );
}
