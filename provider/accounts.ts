import { timingSafeEqual, createHash } from 'node:crypto';

import type { Account, AccountClaims, FindAccount } from 'oidc-provider';

/**
 * The bundled provider's demo accounts. A real provider would keep hashed passwords in a store;
 * these are public demo credentials, compared in constant time all the same.
 */

type DemoAccount = {
  readonly password: string;
  readonly claims: Omit<AccountClaims, 'sub'>;
};

const ACCOUNTS: Readonly<Record<string, DemoAccount>> = {
  alice: {
    password: 'alice-password',
    claims: {
      name: 'Alice Liddell',
      given_name: 'Alice',
      family_name: 'Liddell',
      preferred_username: 'alice',
      locale: 'en-GB',
      email: 'alice@example.com',
      email_verified: true,
    },
  },
  bob: {
    password: 'bob-password',
    claims: {
      name: 'Bob Builder',
      given_name: 'Bob',
      family_name: 'Builder',
      preferred_username: 'bob',
      locale: 'en-US',
      email: 'bob@example.com',
      email_verified: false,
    },
  },
};

/** The demo accounts as shown on the login page. */
export const DEMO_ACCOUNTS: ReadonlyArray<{ login: string; password: string; name: string }> =
  Object.entries(ACCOUNTS).map(([login, account]) => ({
    login,
    password: account.password,
    name: String(account.claims.name),
  }));

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** The account id for a correct login and password, else undefined. */
export function authenticate(login: string, password: string): string | undefined {
  const account = Object.hasOwn(ACCOUNTS, login) ? ACCOUNTS[login] : undefined;
  // Compare digests so that the comparison takes the same time whatever the lengths.
  const ok = timingSafeEqual(digest(password), digest(account?.password ?? '\0no-account'));
  return account && ok ? login : undefined;
}

/** oidc-provider's account lookup. */
export const findAccount: FindAccount = (_ctx, id): Account | undefined => {
  const account = Object.hasOwn(ACCOUNTS, id) ? ACCOUNTS[id] : undefined;
  if (!account) return undefined;
  return {
    accountId: id,
    claims: () => ({ sub: id, ...account.claims }),
  };
};
