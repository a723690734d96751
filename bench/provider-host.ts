import type { Server } from 'node:http';

import type { Middleware } from 'koa';
import Provider, {
  errors,
  type Adapter,
  type AdapterFactory,
  type AdapterPayload,
  type Configuration,
} from 'oidc-provider';

import { buildApiResourceFeatures } from '../provider/api-resource';
import { exposeClientAuthFailures } from '../provider/client-auth-errors';
import { buildConfiguration, demoClient } from '../provider/configuration';
import { settingsFromEnv } from '../provider/index';
import { interactions } from '../provider/interactions';
import { userSessionConfiguration } from '../provider/user-sessions';
import { isLoopbackUrl } from '../provider/loopback';

/**
 * The benchmark's provider: the bundled provider (same configuration, same strict client-assertion
 * checks, same login and consent pages) with one client per relying party under test, all
 * registered with the same public key, and a request counter the benchmark reads at
 * `GET /bench/requests` to count back-channel requests by endpoint.
 *
 * It signs no one in by itself: the benchmark drives the login form over HTTP once per virtual user
 * and reuses that provider session afterwards, so a measured ("warm") login is one authorization
 * request answered with a redirect, as for a user already signed in at the provider.
 *
 * Settings (set by bench/stack.ts):
 *   PROVIDER_ISSUER               loopback issuer, also the listen address
 *   PROVIDER_CLIENT_JWKS_FILE     the clients' public JWK Set
 *   BENCH_CLIENTS                 JSON [{ "clientId": …, "appUrl": … }, …]
 *   API_RESOURCE                  the API the apps ask for at sign-in (one for all clients)
 *
 * Refused outside loopback and with NODE_ENV=production: the counter is for this machine only.
 */

type BenchClient = { readonly clientId: string; readonly appUrl: string };

function readClients(raw: string | undefined): BenchClient[] {
  const parsed: unknown = JSON.parse(raw ?? '[]');
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new Error('BENCH_CLIENTS: a JSON array of { clientId, appUrl } is required');
  return parsed.map((entry: unknown) => {
    const { clientId, appUrl } = (entry ?? {}) as Record<string, unknown>;
    if (typeof clientId !== 'string' || typeof appUrl !== 'string')
      throw new Error('BENCH_CLIENTS: each entry needs clientId and appUrl strings');
    return { clientId, appUrl };
  });
}

type Entry = { payload: AdapterPayload; expiresAt: number };

/**
 * oidc-provider's default store is an LRU of 1,000 entries: a few hundred sign-ins evict the
 * provider sessions of idle virtual users, whose next sign-in then meets the login form. This
 * store keeps everything until it expires, for the length of a run (bounded by the run's size).
 */
export function createRunStore(): AdapterFactory {
  const entries = new Map<string, Entry>();
  const grants = new Map<string, Set<string>>();
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const sweep = setInterval(() => {
    for (const key of entries.keys()) live(key);
  }, 30_000);
  sweep.unref();
  return (model: string): Adapter => {
    const key = (id: string) => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
        entries.set(key(id), { payload, expiresAt });
        if (model === 'Session' && payload.uid)
          entries.set(`sessionUid:${payload.uid}`, {
            payload: { id } as AdapterPayload,
            expiresAt,
          });
        if (payload.grantId) {
          const members = grants.get(payload.grantId) ?? new Set<string>();
          members.add(key(id));
          grants.set(payload.grantId, members);
        }
      },
      async find(id) {
        return live(key(id))?.payload;
      },
      async findByUid(uid) {
        const ref = live(`sessionUid:${uid}`)?.payload as { id?: string } | undefined;
        return ref?.id ? live(key(ref.id))?.payload : undefined;
      },
      async findByUserCode() {
        return undefined;
      },
      async consume(id) {
        const entry = live(key(id));
        if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        entries.delete(key(id));
      },
      async revokeByGrantId(grantId) {
        for (const member of grants.get(grantId) ?? []) entries.delete(member);
        grants.delete(grantId);
      },
    };
  };
}

/** Counts requests by `METHOD /path` (no query: it may carry codes). */
function countRequests(counts: Map<string, number>): Middleware {
  return async (ctx, next) => {
    if (ctx.path === '/bench/requests') {
      ctx.set('cache-control', 'no-store');
      ctx.body = Object.fromEntries(counts);
      return;
    }
    const key = `${ctx.method} ${ctx.path}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    await next();
  };
}

async function main(): Promise<void> {
  const issuer = process.env.PROVIDER_ISSUER ?? '';
  if (!URL.canParse(issuer) || !isLoopbackUrl(new URL(issuer)))
    throw new Error(`PROVIDER_ISSUER must be a loopback URL (got "${issuer}")`);
  if (process.env.NODE_ENV === 'production')
    throw new Error('the benchmark provider does not run with NODE_ENV=production');
  const clients = readClients(process.env.BENCH_CLIENTS);
  const settings = await settingsFromEnv({
    ...process.env,
    APP_URL: clients[0]?.appUrl,
    PROVIDER_CLIENT_ID: clients[0]?.clientId,
    PROVIDER_CLIENT_REGISTRATION: 'jwks',
  });
  const base = buildConfiguration(settings);
  // The API (API_RESOURCE, shared with the apps) for every client, each checked as the bundled
  // provider checks its one client: the app asks for it at sign-in.
  const resourceIndicators = new Map(
    clients.map((c) => [
      c.clientId,
      buildApiResourceFeatures(settings.api, c.clientId).resourceIndicators,
    ]),
  );
  const configuration: Configuration = {
    ...base,
    // Refresh tokens for every relying party, as the bundled provider gives its one client (its
    // configuration names the first of the list only: which subject got them then depended on
    // the order of `--only`).
    issueRefreshToken: userSessionConfiguration(clients.map((c) => c.clientId)).issueRefreshToken,
    clients: clients.map((c) => demoClient({ ...settings, ...c })),
    adapter: createRunStore(),
    features: {
      ...base.features,
      resourceIndicators: {
        ...base.features?.resourceIndicators,
        getResourceServerInfo: (ctx, indicator, client) => {
          const own = resourceIndicators.get(client.clientId)?.getResourceServerInfo;
          if (!own) throw new errors.InvalidTarget('unknown client');
          return own(ctx, indicator, client);
        },
      },
    },
  };
  const provider = new Provider(settings.issuer, configuration);
  const counts = new Map<string, number>();
  provider.use(countRequests(counts));
  provider.use(interactions(provider));
  exposeClientAuthFailures(provider);
  provider.on('server_error', (_ctx, err: Error) => console.error(`[op] server_error: ${err}`));
  const url = new URL(settings.issuer);
  await new Promise<Server>((done, fail) => {
    const server = provider.listen(Number(url.port), url.hostname, () => done(server));
    server.once('error', fail);
  });
  console.log(`[op] bench provider ready at ${settings.issuer}`);
  const stop = () => process.exit(0);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`[op] failed to start: ${(err as Error).message}`);
  process.exit(1);
});
