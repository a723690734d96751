import { getSession, isSessionEnded, userClaims } from '@/lib/dal';
import { AUTH_ERROR_CATALOG } from '@/lib/errors';

export const dynamic = 'force-dynamic';

export default async function HomePage() {
  const session = await getSession();
  const ended = !session && (await isSessionEnded());
  const claims = session ? userClaims(session) : undefined;
  const name = claims && typeof claims.name === 'string' ? claims.name : session?.sub;
  return (
    <>
      <h1>Sign in without a client secret</h1>
      <p>
        This app signs people in with OpenID Connect (authorization code flow with PKCE, state and
        nonce). When it redeems the authorization code at the provider’s token endpoint it does not
        send a client secret: it proves who it is with a short-lived JWT signed by its private key (
        <code>private_key_jwt</code>, RFC 7523, with the RFC 10070 rules). The provider checks the
        signature with the app’s public key, which it reads from{' '}
        <a href="/.well-known/jwks.json">/.well-known/jwks.json</a>.
      </p>
      <div className="card">
        {session ? (
          <>
            <p>
              Signed in as <strong data-testid="signed-in-user">{name}</strong>.
            </p>
            {/* A div, not a p: a form inside a paragraph is invalid HTML, which the browser
                repairs into another tree than React rendered (a hydration error). */}
            <div className="actions">
              <a className="button" href="/profile">
                See your claims and the client assertion
              </a>{' '}
              <form className="inline" method="post" action="/auth/logout">
                <button className="secondary" type="submit">
                  Sign out
                </button>
              </form>
            </div>
          </>
        ) : (
          <>
            {ended ? (
              <p data-testid="session-ended">
                <strong>{AUTH_ERROR_CATALOG.session_expired.title}.</strong>{' '}
                {AUTH_ERROR_CATALOG.session_expired.hint} (
                <span className="error-code">session_expired</span>)
              </p>
            ) : null}
            <p data-testid="signed-out">You are not signed in.</p>
            <p>
              <a className="button" href="/auth/login?returnTo=/profile">
                Sign in
              </a>
            </p>
          </>
        )}
      </div>
      <div className="card">
        <p>
          <strong>Machine to machine:</strong> the same client assertion also gets the app an access
          token for an API with the client-credentials grant, no user involved.{' '}
          <a href="/machine" data-testid="machine-link">
            Try it on /machine
          </a>{' '}
          (no sign-in needed).
        </p>
      </div>
      <h2>What happens when you sign in</h2>
      <ol>
        <li>
          <code>/auth/login</code> stores <code>state</code>, <code>nonce</code> and a PKCE{' '}
          <code>code_verifier</code> in a sealed, HttpOnly cookie and sends you to the provider.
        </li>
        <li>You sign in and consent at the provider, which redirects back with a code.</li>
        <li>
          <code>/auth/callback</code> checks <code>state</code> and <code>iss</code>, signs a fresh
          client assertion, and redeems the code at the token endpoint with it.
        </li>
        <li>
          The ID token’s signature and claims are verified, UserInfo is read, and only then a
          session cookie is created.
        </li>
      </ol>
    </>
  );
}
