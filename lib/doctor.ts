import { generateKeyPair, exportJWK, calculateJwkThumbprint } from 'jose';
import type * as client from 'openid-client';

import type { ClientAuthAlg } from './algorithms';
import {
  candidateAlgorithms,
  configuredVariant,
  createVariantAuthentication,
  describeVariant,
  listAlternatives,
  listStrongerVariants,
  listWeakenings,
  settingsForVariant,
  type AssertionVariant,
  type VariantSpace,
} from './assertion-variants';
import { checkAuthorizationEndpoint } from './authorization-check';
import { listClientAuthHints } from './client-auth-hints';
import { createClientAuthentication, selectAssertionAlg } from './client-assertion';
import { isLoopbackUrl, type AppConfig } from './config';
import { discoveredIssuerMismatch, findIncompatibility, isNetworkError } from './discovery';
import { ConfigError, oneLine } from './errors';
import type { JwtView } from './jwt-view';
import { loadClientKeySet, type ClientKey, type ClientKeySet } from './keys';
import { describeError } from './log';
import type { TokenEndpointAnswer } from './token-endpoint-answer';
import {
  discoverForProbes,
  sendTokenProbe,
  type ProbeGrant,
  type ProbeResult,
  type ProbeTarget,
} from './token-endpoint-probe';

/**
 * `npm run doctor`: checks this app's set-up against the configured provider without a user, and
 * when the provider refuses the client assertion, finds the settings it accepts.
 *
 * It never reports success unless client authentication was proven: the provider got past it
 * (`invalid_grant` for a made-up code, with a control assertion from an unregistered key refused,
 * or a token from the client-credentials grant). When the configured assertion is refused, it
 * signs the alternatives one by one (audience, `typ`, algorithm, certificate thumbprints; each a
 * fresh assertion, smallest change first) and names the settings of the first one accepted, or,
 * when none is, the likely causes in order with the provider's own words.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 * @see https://www.rfc-editor.org/rfc/rfc10070
 */

export type FindingLevel = 'ok' | 'warn' | 'fail' | 'info';

export type Finding = {
  readonly section: string;
  readonly level: FindingLevel;
  readonly message: string;
  readonly lines?: readonly string[] | undefined;
};

export type ProbeRecord = {
  /** Why it was sent: the configured settings, an alternative, a control… */
  readonly purpose: string;
  /** The shape, e.g. `aud=issuer typ=on alg=RS256`. */
  readonly shape: string | undefined;
  readonly grant: ProbeGrant;
  /** The decoded assertion: header and claims. */
  readonly sent: JwtView | undefined;
  readonly parameters: readonly string[];
  readonly answer: TokenEndpointAnswer | undefined;
  /** One line: status, error, description, content type. */
  readonly answered: string;
  readonly verdict: ProbeResult['verdict'];
  readonly ms: number;
};

export type DoctorVerdict = 'proven' | 'refused' | 'unproven' | 'config_error';

export type DoctorReport = {
  readonly verdict: DoctorVerdict;
  /** 0 proven with the current settings; 1 refused or unproven; 2 configuration error. */
  readonly exitCode: 0 | 1 | 2;
  readonly summary: string;
  readonly findings: readonly Finding[];
  readonly probes: readonly ProbeRecord[];
  /** The shape the provider accepted, when the current one was refused (or a stronger one). */
  readonly accepted?:
    | {
        readonly shape: string;
        readonly env: readonly string[];
        readonly unset: readonly string[];
        readonly unsupported: readonly string[];
      }
    | undefined;
  /** Settings in force (or recommended) that weaken client authentication, with the reason. */
  readonly weakenings: readonly string[];
  /** When nothing was accepted: the likely causes, most likely first. */
  readonly causes: readonly string[];
  /** Every distinct answer the token endpoint gave. */
  readonly providerSaid: readonly string[];
};

export type DoctorHooks = {
  readonly onFinding?: ((finding: Finding) => void) | undefined;
  readonly onProbe?: ((probe: ProbeRecord) => void) | undefined;
};

/** Clock difference from which the provider's clock is reported. */
const CLOCK_WARNING_SECONDS = 5;

type Context = {
  readonly settings: AppConfig;
  readonly findings: Finding[];
  readonly probes: ProbeRecord[];
  readonly hooks: DoctorHooks;
  /** Seconds the provider's clock is ahead of this machine's, from its `Date` headers. */
  skews: number[];
  /** Shapes already sent, so that none is sent twice. */
  readonly tried: Set<string>;
};

function note(
  ctx: Context,
  section: string,
  level: FindingLevel,
  message: string,
  lines?: string[],
) {
  // MUST: findings quote the provider (its metadata, its declared issuer, its pages) and are
  // printed to a terminal: each line is made one line without control characters here, the one
  // way into the report, so that an escape sequence or a forged line never reaches it.
  const finding: Finding = {
    section,
    level,
    message: oneLine(message),
    ...(lines ? { lines: lines.map((line) => oneLine(line)) } : {}),
  };
  ctx.findings.push(finding);
  ctx.hooks.onFinding?.(finding);
}

async function probe(
  ctx: Context,
  target: ProbeTarget,
  auth: client.ClientAuth,
  purpose: string,
  shape: string | undefined,
  grant: ProbeGrant = 'authorization_code',
): Promise<ProbeRecord> {
  if (shape) ctx.tried.add(shape);
  const result = await sendTokenProbe(target, auth, { grant });
  if (result.answer?.date) {
    const provider = Date.parse(result.answer.date) / 1000;
    if (Number.isFinite(provider)) ctx.skews.push(Math.round(provider - Date.now() / 1000));
  }
  const record: ProbeRecord = {
    purpose,
    shape,
    grant,
    sent: result.assertion,
    parameters: result.parameters,
    answer: result.answer,
    answered: result.answered,
    verdict: result.verdict,
    ms: result.ms,
  };
  ctx.probes.push(record);
  ctx.hooks.onProbe?.(record);
  return record;
}

/**
 * A metadata member that RFC 8414 §2 makes a JSON array, or undefined (with a warning) when the
 * provider sent something else: the app ignores such a value too (it checks `Array.isArray`), so
 * the doctor reports it instead of failing on it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
function listMember(
  ctx: Context,
  metadata: client.ServerMetadata,
  member:
    'token_endpoint_auth_methods_supported' | 'token_endpoint_auth_signing_alg_values_supported',
): readonly string[] | undefined {
  const value: unknown = metadata[member];
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  note(
    ctx,
    'Provider',
    'warn',
    `${member} is not a list of strings (${JSON.stringify(value).slice(0, 100)}): ignored, as the app ` +
      'ignores it (RFC 8414 §2 makes it a JSON array)',
  );
  return undefined;
}

/** A key nobody registered, of the same type, for the control assertion. */
async function createStrangerKey(alg: ClientAuthAlg): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg);
  const jwk = await exportJWK(publicKey);
  const kid = `doctor-control-${(await calculateJwkThumbprint(jwk)).slice(0, 16)}`;
  return {
    kid,
    alg,
    algDeclared: true,
    privateKey,
    publicJwk: { ...jwk, kid, use: 'sig' },
  };
}

type Keys = {
  /** The configured key set (OIDC_CLIENT_AUTH_ALG applied). */
  readonly configured: ClientKeySet;
  /** The algorithm sent when OIDC_CLIENT_AUTH_ALG is not set. */
  readonly naturalAlg: string | undefined;
  /** The signing key imported for each algorithm it can sign. */
  readonly byAlg: ReadonlyMap<ClientAuthAlg, ClientKey>;
};

async function loadKeys(
  settings: AppConfig,
  supported: readonly string[] | undefined,
): Promise<Keys> {
  const source = { passphrase: settings.clientKeyPassphrase, certFile: settings.clientCertFile };
  const configured = await loadClientKeySet(settings.clientKeyFile, {
    ...source,
    alg: settings.assertion.alg,
  });
  const natural =
    settings.assertion.alg === undefined
      ? configured
      : await loadClientKeySet(settings.clientKeyFile, source);
  const byAlg = new Map<ClientAuthAlg, ClientKey>();
  for (const alg of candidateAlgorithms(configured.signing.publicJwk, undefined)) {
    const set =
      alg === configured.signing.alg
        ? configured
        : await loadClientKeySet(settings.clientKeyFile, { ...source, alg });
    byAlg.set(alg, set.signing);
  }
  return { configured, naturalAlg: selectAssertionAlg(natural.signing, supported), byAlg };
}

function distinctAnswers(probes: readonly ProbeRecord[]): string[] {
  return [
    ...new Set(
      probes
        .filter((p) => p.verdict === 'refused' || p.verdict === 'unclear')
        .map((p) => p.answered),
    ),
  ];
}

/**
 * A key published with `alg` RS256 is not used by providers that match the JWK's `alg` for a
 * PS256 assertion: switching algorithms means publishing (and registering) the key again.
 */
function describePublishedAlg(ctx: Context, signing: ClientKey): string | undefined {
  const published = signing.publicJwk.alg;
  const others = [
    ...new Set(
      ctx.probes
        .filter((p) => p.verdict === 'refused' && p.sent && p.sent.header.alg !== published)
        .map((p) => String(p.sent?.header.alg)),
    ),
  ];
  if (!published || others.length === 0) return undefined;
  return (
    `The key is published with alg ${published}; a provider that matches a JWK's alg refuses ` +
    `${others.join(', ')} with it. To sign ${others[0]}, set OIDC_CLIENT_AUTH_ALG=${others[0]} ` +
    `(the app then publishes alg ${others[0]}) and register ` +
    'the key again, or let the provider refetch the jwks_uri.'
  );
}

/** The likely causes when no shape was accepted, those with evidence first. */
function rankCauses(
  ctx: Context,
  metadata: client.ServerMetadata,
  keys: Keys,
  jwksReachableHere: boolean,
): string[] {
  const { settings } = ctx;
  const jwksUrl = `${settings.appUrl}/.well-known/jwks.json`;
  const first: string[] = [];
  const methods = metadata.token_endpoint_auth_methods_supported;
  if (Array.isArray(methods) && !methods.includes('private_key_jwt')) {
    first.push(
      `The provider does not offer private_key_jwt at all (token_endpoint_auth_methods_supported: ` +
        `${methods.join(', ')}).`,
    );
  }
  const skew = ctx.skews.length ? Math.max(...ctx.skews.map(Math.abs)) : 0;
  if (skew >= CLOCK_WARNING_SECONDS) {
    first.push(
      `The clocks differ: the provider's Date header is ${skew} s off this machine's clock; the assertion lives ` +
        `${settings.assertion.lifetimeSeconds} s (the app corrects offsets of 2 s or more; fix NTP on both sides).`,
    );
  }
  if (isLoopbackUrl(new URL(settings.appUrl)) && !isLoopbackUrl(new URL(settings.issuer))) {
    first.push(
      `The provider cannot fetch ${jwksUrl}: APP_URL is this machine's loopback and the provider is elsewhere. If ` +
        `it is registered with that jwks_uri, register the public JWKS inline instead (npm run keys -- show), or ` +
        `run the app at an address the provider reaches.`,
    );
  } else if (!jwksReachableHere) {
    first.push(
      `${jwksUrl} does not answer even from here: a provider registered with that jwks_uri cannot read the key ` +
        `(start the app, or register the JWKS inline).`,
    );
  }
  const rest = listClientAuthHints({
    clientId: settings.clientId,
    kid: keys.configured.signing.kid,
    jwksUrl,
    lifetimeSeconds: settings.assertion.lifetimeSeconds,
  }).filter(
    // The shapes (audience, typ, algorithm) were all tried; doctor itself is the last hint.
    (_hint, i) => i < 2 || i === 5,
  );
  return [...first, ...rest];
}

/**
 * Runs every check and returns the report; `hooks` see findings and probes as they happen.
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export async function runDoctor(
  settings: AppConfig,
  hooks: DoctorHooks = {},
): Promise<DoctorReport> {
  const ctx: Context = { settings, findings: [], probes: [], hooks, skews: [], tried: new Set() };
  const report = (
    verdict: DoctorVerdict,
    summary: string,
    extra: Partial<Pick<DoctorReport, 'accepted' | 'weakenings' | 'causes'>> = {},
  ): DoctorReport => ({
    verdict,
    exitCode: verdict === 'proven' ? 0 : verdict === 'config_error' ? 2 : 1,
    summary,
    findings: ctx.findings,
    probes: ctx.probes,
    weakenings: extra.weakenings ?? [],
    causes: extra.causes ?? [],
    accepted: extra.accepted,
    providerSaid: distinctAnswers(ctx.probes),
  });

  note(
    ctx,
    'Configuration',
    'ok',
    `issuer ${settings.issuer}, client_id ${settings.clientId}, redirect_uri ${settings.redirectUri}`,
  );

  // --- the provider
  let oidc: client.Configuration;
  try {
    oidc = await discoverForProbes(settings);
  } catch (err) {
    const declared = discoveredIssuerMismatch(err);
    if (declared !== undefined) {
      note(
        ctx,
        'Provider',
        'fail',
        `the provider at ${settings.issuer} declares its issuer as "${declared}"`,
        ['fix: set OIDC_ISSUER to exactly that (scheme, host, path and trailing slash included)'],
      );
      return report('config_error', 'OIDC_ISSUER does not match the issuer the provider declares.');
    }
    note(ctx, 'Provider', 'fail', `discovery of ${settings.issuer} failed: ${describeError(err)}`);
    return report(
      'unproven',
      isNetworkError(err)
        ? 'The provider could not be reached: client authentication was not tried.'
        : 'The provider metadata could not be loaded: client authentication was not tried.',
    );
  }
  const metadata = oidc.serverMetadata();
  note(
    ctx,
    'Provider',
    'ok',
    `discovered ${metadata.issuer} (token endpoint ${metadata.token_endpoint ?? 'none'})`,
  );
  const methods = listMember(ctx, metadata, 'token_endpoint_auth_methods_supported');
  if (methods === undefined)
    note(
      ctx,
      'Provider',
      'warn',
      'token_endpoint_auth_methods_supported not published (private_key_jwt assumed)',
    );
  else if (methods.includes('private_key_jwt'))
    note(ctx, 'Provider', 'ok', `private_key_jwt offered (${methods.join(', ')})`);
  else note(ctx, 'Provider', 'fail', `private_key_jwt not offered (${methods.join(', ')})`);
  const supported = listMember(ctx, metadata, 'token_endpoint_auth_signing_alg_values_supported');
  note(
    ctx,
    'Provider',
    supported ? 'ok' : 'warn',
    supported
      ? `assertion algorithms accepted: ${supported.join(', ')}`
      : 'token_endpoint_auth_signing_alg_values_supported not published (the key’s algorithm is tried)',
  );
  if (metadata.code_challenge_methods_supported?.includes('S256'))
    note(ctx, 'Provider', 'ok', 'PKCE S256 supported');
  else
    note(
      ctx,
      'Provider',
      'warn',
      'code_challenge_methods_supported does not list S256 (PKCE is sent anyway)',
    );
  if (metadata.authorization_response_iss_parameter_supported)
    note(ctx, 'Provider', 'ok', 'RFC 9207 iss in authorization responses');
  else
    note(
      ctx,
      'Provider',
      'warn',
      'no RFC 9207 iss in authorization responses (mix-up protection relies on state alone)',
    );
  if (!metadata.end_session_endpoint)
    note(ctx, 'Provider', 'warn', 'no end_session_endpoint: sign-out will be local only');

  // --- the key
  let keys: Keys;
  try {
    keys = await loadKeys(settings, supported);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    note(ctx, 'Signing key', 'fail', err.message);
    return report('config_error', 'The client key cannot be used.');
  }
  const signing = keys.configured.signing;
  note(
    ctx,
    'Signing key',
    'ok',
    `${settings.clientKeyFile}: kid ${signing.kid}, ` +
      `${signing.alg}${signing.certificate ? ', with a certificate' : ''}; ${keys.configured.published.length} ` +
      `key(s) published`,
  );
  for (const warning of keys.configured.warnings) note(ctx, 'Signing key', 'warn', warning);
  const incompatible = findIncompatibility(metadata, signing, settings.idTokenSignedResponseAlg);
  if (incompatible) {
    note(
      ctx,
      'Signing key',
      'fail',
      `${incompatible.variable}: ${incompatible.message}`,
      incompatible.fix ? [`fix: ${incompatible.fix}`] : undefined,
    );
  }

  // --- the app's JWKS, as the provider would fetch it
  const jwksUrl = `${settings.appUrl}/.well-known/jwks.json`;
  let jwksReachable = false;
  try {
    const response = await fetch(jwksUrl, {
      signal: AbortSignal.timeout(Math.min(settings.httpTimeoutMs, 3000)),
    });
    const body = (await response.json()) as { keys?: Array<{ kid?: string; alg?: string }> };
    jwksReachable = response.ok;
    const served = body.keys?.find((k) => k.kid === signing.kid);
    if (served)
      note(
        ctx,
        'Client JWKS',
        'ok',
        `${jwksUrl} serves kid ${signing.kid}${served.alg ? ` (alg ${served.alg})` : ''}`,
      );
    else
      note(
        ctx,
        'Client JWKS',
        'fail',
        `${jwksUrl} does not serve kid ${signing.kid}: the running app has another key file`,
      );
  } catch {
    note(
      ctx,
      'Client JWKS',
      'warn',
      `${jwksUrl} does not answer from here (is the app running?); it matters only if the provider uses it as jwks_uri`,
    );
  }

  // --- the authorization endpoint
  try {
    const check = await checkAuthorizationEndpoint(oidc, {
      redirectUri: settings.redirectUri,
      scope: settings.scopes,
      timeoutMs: settings.httpTimeoutMs,
    });
    const level =
      check.outcome === 'accepted' ? 'ok' : check.outcome === 'refused' ? 'fail' : 'warn';
    note(ctx, 'Authorization endpoint', level, check.message, [
      ...check.hops.map((h) => `answer: ${h}`),
      ...(check.providerSaid ? [`the provider said: ${check.providerSaid}`] : []),
      ...(check.outcome === 'accepted' ? [] : [`request: ${check.url}`]),
    ]);
  } catch (err) {
    note(ctx, 'Authorization endpoint', 'warn', `not checked: ${describeError(err)}`);
  }

  // --- client authentication
  const target: ProbeTarget = {
    metadata,
    clientId: settings.clientId,
    redirectUri: settings.redirectUri,
    timeoutMs: settings.httpTimeoutMs,
  };
  const withCertificate = signing.certificate !== undefined;
  const space: VariantSpace = {
    algorithms: candidateAlgorithms(signing.publicJwk, supported),
    withCertificate,
    configuredUrl: settings.assertion.audience.mode === 'url',
    hasTokenEndpoint: metadata.token_endpoint !== undefined,
  };
  const configuredUrl =
    settings.assertion.audience.mode === 'url' ? settings.assertion.audience.url : undefined;
  const variantAuth = (variant: AssertionVariant) =>
    createVariantAuthentication(variant, keys.byAlg.get(variant.alg) ?? signing, {
      lifetimeSeconds: settings.assertion.lifetimeSeconds,
      configuredUrl,
      x5tSha1: settings.assertion.x5tSha1,
    });
  const shapeOf = (variant: AssertionVariant) => describeVariant(variant, withCertificate);
  const configured = configuredVariant(settings.assertion, signing, metadata);
  const section = 'Client authentication';

  /** The accepted shape's settings, weakenings, and a stronger shape if the provider takes one. */
  const settle = async (accepted: AssertionVariant) => {
    let best = accepted;
    for (const stronger of listStrongerVariants(accepted, space)) {
      if (ctx.tried.has(shapeOf(stronger))) continue;
      const record = await probe(
        ctx,
        target,
        variantAuth(stronger),
        'stronger alternative',
        shapeOf(stronger),
      );
      if (record.verdict === 'authenticated') {
        best = stronger;
        break;
      }
    }
    return {
      best,
      settings: settingsForVariant(best, keys.naturalAlg, {
        current: settings.assertion,
        withCertificate,
      }),
      weakenings: listWeakenings(best, space, supported),
    };
  };

  let first: ProbeRecord | undefined;
  if (configured) {
    first = await probe(
      ctx,
      target,
      createClientAuthentication(settings.assertion, {
        keys: async () => keys.configured,
        clockSkew: () => 0,
      }),
      'configured settings',
      shapeOf(configured),
    );
  } else {
    note(
      ctx,
      section,
      'fail',
      'the configured settings cannot be sent (the provider does not list the algorithm); trying the alternatives',
    );
  }

  // `first` was sent only when the configured shape could be.
  if (configured && first?.verdict === 'authenticated') {
    // A control from a key nobody registered must be refused; otherwise invalid_grant proves nothing.
    const stranger = await createStrangerKey(configured.alg);
    const control = await probe(
      ctx,
      target,
      createVariantAuthentication(configured, stranger, {
        lifetimeSeconds: settings.assertion.lifetimeSeconds,
        configuredUrl,
      }),
      'negative control (a key nobody registered)',
      shapeOf(configured),
    );
    let proof =
      'the provider accepted the client assertion (invalid_grant for the made-up code) and refused the control ' +
      'signed by an unregistered key';
    if (control.verdict !== 'refused') {
      note(
        ctx,
        section,
        'warn',
        'the provider answered the control from an unregistered key like the real one: it looks at the code ' +
          'before the client, so invalid_grant proves nothing; trying the client-credentials grant',
      );
      const grant = await probe(
        ctx,
        target,
        createClientAuthentication(settings.assertion, {
          keys: async () => keys.configured,
          clockSkew: () => 0,
        }),
        'client-credentials grant (a real token request)',
        shapeOf(configured),
        'client_credentials',
      );
      if (grant.verdict !== 'authenticated' || grant.answer?.status !== 200) {
        note(ctx, section, 'fail', 'client authentication could not be proven', [
          `client-credentials grant: ${grant.answered}`,
        ]);
        return report(
          'unproven',
          'Client authentication NOT proven: the provider answers made-up codes before it checks the client, and ' +
            'gave no token.',
        );
      }
      proof = 'the provider issued a token for the client-credentials grant';
    }
    note(ctx, section, 'ok', proof);
    const configuredWeakenings = listWeakenings(configured, space, supported);
    let accepted: DoctorReport['accepted'];
    if (configuredWeakenings.length > 0) {
      const { best, settings: recommended, weakenings } = await settle(configured);
      if (best !== configured) {
        accepted = { shape: shapeOf(best), ...recommended };
        note(ctx, section, 'warn', `the provider also accepts a stronger shape: ${shapeOf(best)}`, [
          ...recommended.env.map((line) => `set   ${line}`),
          ...recommended.unset.map((name) => `unset ${name}`),
        ]);
      }
      for (const w of best === configured ? configuredWeakenings : weakenings)
        note(ctx, 'Security', 'warn', w);
      return report('proven', 'Client authentication proven with the current settings.', {
        accepted,
        weakenings: best === configured ? configuredWeakenings : weakenings,
      });
    }
    return report('proven', 'Client authentication proven with the current settings.', {
      weakenings: configuredWeakenings,
    });
  }

  if (first && first.verdict !== 'refused') {
    note(
      ctx,
      section,
      'fail',
      `the answer says nothing about client authentication: ${first.answered}`,
    );
    return report(
      'unproven',
      'Client authentication NOT proven: the token endpoint did not answer as a token endpoint does.',
    );
  }

  if (first)
    note(
      ctx,
      section,
      'fail',
      `the provider refused the configured client assertion: ${first.answered}`,
    );
  for (const variant of listAlternatives(configured, space)) {
    if (ctx.tried.has(shapeOf(variant))) continue;
    const record = await probe(ctx, target, variantAuth(variant), 'alternative', shapeOf(variant));
    if (record.verdict !== 'authenticated') continue;
    const { best, settings: recommended, weakenings } = await settle(variant);
    const lines = [
      ...recommended.env.map((line) => `set   ${line}`),
      ...recommended.unset.map((name) => `unset ${name}`),
      ...recommended.unsupported.map((text) => `note  ${text}`),
    ];
    note(
      ctx,
      section,
      recommended.unsupported.length ? 'warn' : 'ok',
      `the provider accepts ${shapeOf(best)}`,
      lines,
    );
    for (const w of weakenings) note(ctx, 'Security', 'warn', w);
    return report(
      'refused',
      'The current settings are refused; the provider accepts the settings above.',
      {
        accepted: { shape: shapeOf(best), ...recommended },
        weakenings,
      },
    );
  }
  const algNote = describePublishedAlg(ctx, signing);
  const causes = [
    ...(algNote && !configured ? [algNote] : []),
    ...rankCauses(ctx, metadata, keys, jwksReachable),
    ...(algNote && configured ? [algNote] : []),
  ];
  note(
    ctx,
    section,
    'fail',
    'the provider refused every shape of the assertion; the likely causes, most likely first:',
    [
      ...causes.map((cause, i) => `${i + 1}. ${cause}`),
      ...distinctAnswers(ctx.probes).map((said) => `the provider said: ${said}`),
    ],
  );
  return report(
    'refused',
    'Client authentication refused in every shape: see the likely causes above.',
    { causes },
  );
}
