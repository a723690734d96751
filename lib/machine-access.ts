/**
 * Who may make the app act as itself on `/machine`.
 *
 * The button there gets an access token with the app's own credentials (its private key, the
 * client-credentials grant) and shows what the API answers the app. Offered to anyone, that lends
 * the app's identity to every visitor (a confused deputy): they read what only the app may read,
 * and make it spend grants at the provider. So a signed-in user is required, except in
 * development (`next dev`, NODE_ENV=development), where the page is a tool for the developer.
 *
 * Both the page and its server action decide with this: the action's id is in a public script
 * chunk, and a POST with it reaches the action whatever the page showed.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4 (client credentials: the client acts for itself)
 */

export type MachineAccess =
  | { readonly allowed: true; readonly because: 'signed_in' | 'development' }
  | { readonly allowed: false };

/**
 * Whether a request may use the app's identity: a signed-in user, or development.
 *
 * @param signedIn whether the request carries an active session.
 * @param nodeEnv NODE_ENV of the running app.
 */
export function decideMachineAccess(
  signedIn: boolean,
  nodeEnv: string | undefined = process.env.NODE_ENV,
): MachineAccess {
  if (signedIn) return { allowed: true, because: 'signed_in' };
  // MUST: open only in development (next dev), never in a production build or under test.
  if (nodeEnv === 'development') return { allowed: true, because: 'development' };
  return { allowed: false };
}
