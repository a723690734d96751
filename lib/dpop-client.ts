import { sealData, unsealData } from 'iron-session';
import {
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import * as client from 'openid-client';

import { getClockSkew } from './clock-skew';
import { AuthError } from './errors';
import { processSingleton } from './process-slot';
import type { SealPassword } from './seal-cache';
import type { DpopAlg } from './protocol-profile';

/**
 * The client side of DPoP (RFC 9449): one key pair per user session, and the openid-client DPoP
 * handles that sign the proofs with it (openid-client does the protocol: the `DPoP` header on token
 * and UserInfo requests, and one retry when the server answers `use_dpop_nonce`).
 *
 * How the key is kept, and why. The issue asks for two things that pull apart: a key that cannot
 * be extracted where the runtime allows, and a key that survives a restart and works on every
 * instance. A non-extractable WebCrypto key lives and dies with one process, so it cannot be all
 * there is. The resolution:
 *
 * - the key pair is generated once, at sign-in start, and its private JWK is exported exactly
 *   once, to be kept **sealed** (iron-session: AES-256-CBC + HMAC-SHA-256 under SESSION_SECRET)
 *   with the session state on the server (the sign-in transaction cookie between /auth/login and
 *   /auth/callback, then the session record: this process's memory, or Redis shared by every
 *   instance). A Redis dump or a copied cookie holds only the sealed form;
 * - every process that needs the key unseals it once and imports it as a **non-extractable**
 *   CryptoKey, cached by thumbprint ({@link MAX_CACHED_KEYS} keys): from then on the key material
 *   is out of reach of JavaScript in that process (no code path, log line or page can export it);
 * - so a restart, or a request served by another instance, re-imports the same key from the
 *   session state, and the tokens bound to it keep working.
 *
 * The public key stays extractable: openid-client puts it in every proof's `jwk` header.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-2 (key pair per client instance)
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4 (DPoP proof JWTs)
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5 (DPoP access token request)
 */

/** How many imported session keys a process keeps (least recently used go first). */
export const MAX_CACHED_KEYS = 1000;

/** A session's DPoP key, imported. */
export type DpopKey = {
  /** RFC 7638 SHA-256 thumbprint of the public key: `dpop_jkt`, and the tokens' `cnf.jkt`. */
  readonly jkt: string;
  readonly alg: DpopAlg;
  /** Private key non-extractable, public key extractable (openid-client needs its JWK). */
  readonly keyPair: client.CryptoKeyPair;
};

/** Who a proof is for: the provider (its clock applies) or this app's API (ours does). */
export type DpopTarget = 'provider' | 'api';

type Cached = {
  readonly key: Promise<DpopKey>;
  readonly handles: Map<DpopTarget, client.DPoPHandle>;
};

// One cache per process (Next.js bundles route handlers separately).
const cache = processSingleton('dpop-keys', () => new Map<string, Cached>());

function remember(jkt: string, entry: Cached): Cached {
  cache.delete(jkt);
  cache.set(jkt, entry);
  if (cache.size > MAX_CACHED_KEYS) cache.delete(cache.keys().next().value as string);
  return entry;
}

function isDpopJwk(value: unknown): value is JWK & { d: string; x: string } {
  if (typeof value !== 'object' || value === null) return false;
  const jwk = value as Record<string, unknown>;
  const str = (name: string) => typeof jwk[name] === 'string' && (jwk[name] as string).length > 0;
  if (!str('d') || !str('x')) return false;
  if (jwk.kty === 'EC') return jwk.crv === 'P-256' && str('y');
  return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
}

function algOf(jwk: JWK): DpopAlg {
  return jwk.kty === 'EC' ? 'ES256' : 'EdDSA';
}

function publicPart(jwk: JWK): JWK {
  const { kty, crv, x, y } = jwk;
  return y === undefined ? { kty, crv, x } : { kty, crv, x, y };
}

async function importKey(jwk: JWK & { d: string }): Promise<DpopKey> {
  const alg = algOf(jwk);
  const joseAlg = alg === 'EdDSA' ? 'Ed25519' : alg;
  const publicJwk = publicPart(jwk);
  // MUST: the private key is imported non-extractable: nothing in this process can read it back.
  const privateKey = (await importJWK(jwk, joseAlg, { extractable: false })) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, joseAlg, { extractable: true })) as CryptoKey;
  return { jkt: await calculateJwkThumbprint(publicJwk), alg, keyPair: { privateKey, publicKey } };
}

/**
 * A new key pair for a session: ES256 (P-256) or EdDSA (Ed25519).
 *
 * @returns the imported key (non-extractable private key), and its private JWK, to be sealed
 *   with the session state and never stored anywhere else.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-2
 */
export async function generateDpopKey(
  alg: DpopAlg,
): Promise<{ readonly key: DpopKey; readonly jwk: JWK }> {
  const generated = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : 'ES256', {
    extractable: true,
  });
  const exported = await exportJWK(generated.privateKey);
  const jwk = publicPart(exported);
  const privateJwk = { ...jwk, d: String(exported.d) };
  const key = await importKey(privateJwk);
  remember(key.jkt, { key: Promise.resolve(key), handles: new Map() });
  return { key, jwk: privateJwk };
}

/**
 * The imported key for a stored private JWK, from this process's cache or imported now.
 *
 * @throws {AuthError} `signin_failed` when the stored value is not a DPoP key of ours.
 */
export async function loadDpopKey(jwk: unknown): Promise<DpopKey> {
  if (!isDpopJwk(jwk)) {
    throw new AuthError('signin_failed', { detail: 'the stored DPoP key is malformed' });
  }
  const jkt = await calculateJwkThumbprint(publicPart(jwk));
  const cached = cache.get(jkt);
  if (cached) return remember(jkt, cached).key;
  const entry = remember(jkt, { key: importKey(jwk), handles: new Map() });
  entry.key.catch(() => cache.delete(jkt));
  return entry.key;
}

/** Seals a private JWK for storage (iron-session, SESSION_SECRET). */
export function sealDpopJwk(jwk: JWK, password: SealPassword): Promise<string> {
  // ttl 0: as long as the session that holds it (which has its own lifetime).
  return sealData(jwk, { password, ttl: 0 });
}

/** Opens a sealed private JWK; undefined when it cannot be opened. */
export async function unsealDpopJwk(
  sealed: string,
  password: SealPassword,
): Promise<JWK | undefined> {
  try {
    const value = await unsealData<unknown>(sealed, { password, ttl: 0 });
    return isDpopJwk(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The openid-client DPoP handle for `key` (one per key and target, so that server nonces are
 * remembered between requests). Proofs to the provider carry the provider's idea of "now"
 * (./clock-skew.ts), as client assertions do; an Ed25519 proof is labelled with the name the
 * provider lists (`EdDSA` or `Ed25519`, RFC 9864).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function getDpopHandle(
  config: client.Configuration,
  key: DpopKey,
  target: DpopTarget,
): client.DPoPHandle {
  const entry =
    cache.get(key.jkt) ?? remember(key.jkt, { key: Promise.resolve(key), handles: new Map() });
  const existing = entry.handles.get(target);
  if (existing) return existing;
  const supported = config.serverMetadata().dpop_signing_alg_values_supported;
  const edName =
    Array.isArray(supported) && !supported.includes('Ed25519') && supported.includes('EdDSA')
      ? 'EdDSA'
      : 'Ed25519';
  const handle = client.getDPoPHandle(config, key.keyPair, {
    [client.modifyAssertion]: (header, payload) => {
      if (header.alg === 'Ed25519' || header.alg === 'EdDSA') header.alg = edName;
      if (target === 'provider') payload.iat = Math.floor(Date.now() / 1000) + getClockSkew();
    },
  });
  entry.handles.set(target, handle);
  return handle;
}

/** What the token response says about its binding, for checks and display. */
export type TokenBindingView = {
  /** `token_type` as the provider sent it (lower case). */
  readonly token_type: string;
  /** The access token's `cnf`, when the access token is a JWT. */
  readonly cnf?: Record<string, unknown> | undefined;
  /** Whether the access token could be read (a JWT) or is opaque. */
  readonly format: 'jwt' | 'opaque';
};

/**
 * Checks that a token response honoured the DPoP proof: `token_type` DPoP (RFC 9449 §5), and, for
 * a JWT access token, `cnf.jkt` = this key's thumbprint (§6.1). An opaque access token cannot be
 * read by the client; only its `token_type` can be checked, and the resource server checks the
 * binding.
 *
 * @throws {AuthError} `dpop_binding_invalid`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6.1
 */
export function checkDpopBinding(
  response: { readonly token_type: string; readonly access_token: string },
  key: DpopKey,
): TokenBindingView {
  const tokenType = response.token_type.toLowerCase();
  // MUST: a Bearer answer to a DPoP request is a token anyone who steals it can use; the sign-in
  // (or refresh) asked for a bound one and does not silently accept less.
  if (tokenType !== 'dpop') {
    throw new AuthError('dpop_binding_invalid', {
      detail: `token_type "${tokenType.slice(0, 20)}" instead of DPoP`,
    });
  }
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(response.access_token) as Record<string, unknown>;
  } catch {
    return { token_type: tokenType, format: 'opaque' };
  }
  const cnf = claims.cnf;
  const jkt =
    typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>).jkt : undefined;
  if (jkt !== key.jkt) {
    throw new AuthError('dpop_binding_invalid', {
      detail:
        jkt === undefined
          ? 'the access token has no cnf.jkt'
          : 'the access token is bound to another key (cnf.jkt)',
    });
  }
  return { token_type: tokenType, cnf: cnf as Record<string, unknown>, format: 'jwt' };
}
