import { buildAuthorizationRequest, usesPar } from './authorization-request';
import { getConfig } from './config';
import { getProvider } from './discovery';
import { describeError, log } from './log';
import { processSingleton } from './process-slot';
import { createTransaction, startSignIn } from './sign-in';
import { sealTransaction, type Transaction } from './transaction';

/**
 * The sign-in start of `/auth/login`, with its transaction made ahead: the `state`, `nonce` and
 * PKCE verifier, the S256 challenge, and the sealed cookie that carries them. Sealing is most of
 * what `/auth/login` costs (about half a millisecond of WebCrypto: two PBKDF2 key derivations, an
 * AES-CBC encryption and an HMAC, each a trip to the thread pool), and it needs nothing from the
 * request but its `returnTo`. So each start makes the next one once it has answered, and the next
 * request with the same `returnTo` takes it. This is the prepared client assertion's move
 * (./client-assertion.ts), for the other half of the sign-in.
 */

/** A transaction made ahead, sealed, with the authorization request's parameters. */
export type PreparedTransaction = {
  readonly transaction: Transaction;
  readonly parameters: Readonly<Record<string, string>>;
  /** `transaction` sealed for its cookie, as {@link sealTransaction} does. */
  readonly sealed: string;
};

/**
 * A prepared transaction older than this is not used. Its `created_at` is when the flow inspector
 * says the sign-in started (lib/flow-capture.ts), and its cookie's expiry (counted by iron-session
 * from the seal, readable in the cookie) tells the browser that gets it when the start before it
 * ran: a second off at most, as a prepared client assertion (./client-assertion.ts).
 */
export const PREPARED_TRANSACTION_MAX_AGE_MS = 1000;

type Slot = {
  readonly returnTo: string;
  readonly preparedAt: number;
  /** Undefined when the preparation failed: the request then makes its own. */
  readonly made: Promise<PreparedTransaction | undefined>;
};

// One per process, whichever bundle asks: the route that prepares is the route that takes.
const slots = processSingleton('prepared-sign-in', () => ({
  current: undefined as Slot | undefined,
}));

/**
 * Starts a sign-in as {@link startSignIn} does, from a transaction made ahead for this `returnTo`
 * when there is a fresh one, and sets the next one to be made once this request has been answered.
 *
 * Only without PAR and DPoP: a pushed request is made with the provider per sign-in, and a DPoP key
 * is the session's own. Those start as {@link startSignIn} does, unprepared.
 *
 * @returns `sealed`: the transaction already sealed for its cookie, when it was made ahead.
 * @throws {AuthError} as {@link startSignIn}.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
 */
export async function startPreparedSignIn(
  returnTo: string,
  now = Date.now(),
): Promise<{ url: URL; transaction: Transaction; sealed: string | undefined }> {
  const settings = getConfig();
  const provider = await getProvider();
  // MUST: never a prepared transaction with PAR or DPoP. The pushed request (RFC 9126 §2) and the
  // DPoP key the code is bound to (RFC 9449 §10) are made with their sign-in and kept in its
  // cookie; a prepared cookie carries neither. Decided on this request's provider metadata, so a
  // provider that starts requiring PAR is followed at once.
  if (settings.protocol.dpop.enabled || usesPar(settings.protocol.par, provider.metadata)) {
    slots.current = undefined;
    return { ...(await startSignIn(returnTo)), sealed: undefined };
  }
  const taken = takePreparedTransaction(returnTo, now);
  schedulePreparation(returnTo);
  const prepared = taken && (await taken);
  if (!prepared) return { ...(await startSignIn(returnTo)), sealed: undefined };
  const { url } = await buildAuthorizationRequest(provider, settings, prepared.parameters);
  return { url, transaction: prepared.transaction, sealed: prepared.sealed };
}

/**
 * Takes the prepared transaction if it is for `returnTo` and fresh. MUST: taken once. The slot is
 * emptied before anything is awaited, so that two requests never share a `state`, `nonce` or PKCE
 * verifier.
 */
function takePreparedTransaction(
  returnTo: string,
  now: number,
): Promise<PreparedTransaction | undefined> | undefined {
  const slot = slots.current;
  if (slot === undefined || slot.returnTo !== returnTo) return undefined;
  slots.current = undefined;
  if (now - slot.preparedAt > PREPARED_TRANSACTION_MAX_AGE_MS) return undefined;
  return slot.made;
}

/**
 * Makes the next transaction for `returnTo` once this turn of the event loop is over (the answer
 * to this request is on its way). Called right after {@link takePreparedTransaction}, which
 * leaves no slot for `returnTo`: what is there, made for another `returnTo`, is dropped.
 */
function schedulePreparation(returnTo: string): void {
  const made = new Promise<PreparedTransaction | undefined>((resolve) => {
    setImmediate(() => {
      prepareTransaction(returnTo).then(resolve, (err: unknown) => {
        // The request that would have taken it makes its own, and meets the same failure there.
        log.warn('could not prepare a sign-in transaction', { error: describeError(err) });
        resolve(undefined);
      });
    });
  });
  // Held from now: the next request for `returnTo`, even later in this turn, takes this one and
  // waits for it to be made.
  slots.current = { returnTo, preparedAt: Date.now(), made };
}

/** A transaction for `returnTo`, its parameters and its sealed cookie. */
async function prepareTransaction(returnTo: string): Promise<PreparedTransaction> {
  const { transaction, parameters } = await createTransaction(returnTo);
  const sealed = await sealTransaction(transaction, getConfig().sessionPasswords.seal);
  return { transaction, parameters, sealed };
}
