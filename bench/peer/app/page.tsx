import { auth0 } from '../lib/auth0';

export const dynamic = 'force-dynamic';

export default async function Home() {
  const session = await auth0.getSession();
  return (
    <main>
      <h1>nextjs-auth0 peer</h1>
      {session ? <p>Signed in as {session.user.name}</p> : <a href="/auth/login">Sign in</a>}
    </main>
  );
}
