import Link from 'next/link';
import type { Metadata } from 'next';

export const metadata: Metadata = { title: 'Not found · private_key_jwt RP' };

/**
 * The 404 page, in the app's own layout. Next's built-in one styles itself with inline `style`
 * attributes and an unnonced `<style>`, which this app's Content-Security-Policy refuses.
 */
export default function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p className="card" data-testid="not-found">
        There is nothing at this address. <Link href="/">Home</Link>
      </p>
    </>
  );
}
