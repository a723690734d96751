import { execFileSync } from 'node:child_process';

import { startApiServer } from '../e2e/support/api-server';
import { startInProcessProvider } from '../e2e/support/in-process-provider';
import { getApiAccessToken } from '../lib/client-credentials';
import { getConfig } from '../lib/config';
import { createMemoryReplayStore } from '../lib/replay-store';
import { authorizeRequest, getApiPolicy, getProviderJwks } from '../lib/resource-server';
import { callApi } from '../lib/machine-call';
import { completeSignIn, startSignIn } from '../lib/sign-in';
import { driveSignIn } from '../provider/drive-sign-in';
import { findFreePort, tsxNode } from '../scripts/processes';

/**
 * `npm run bench:fapi2` — what the FAPI 2.0 profile costs, measured in-process against the
 * bundled provider (one per profile, each run in its own process because the configuration is
 * process-wide):
 *
 * 1. the sign-in's back-channel time, without the user's part at the provider: `/auth/login`'s
 *    work (plain: nothing but a URL; FAPI 2.0: a new DPoP key, the PAR round trip with its
 *    assertion and proof) and `/auth/callback`'s (token request and UserInfo, with proofs);
 * 2. the API's cost per request: the resource server's decision in-process (Bearer vs DPoP, the
 *    proof's checks and the replay store included), and a whole call over HTTP (the client's
 *    proof signing, HTTP, the decision).
 *
 * Profiles: plain; fapi2 (PAR + DPoP); fapi2 with DPoP nonces at the provider and the API.
 * BENCH_SIGN_INS (40), BENCH_REQUESTS (500).
 */

const SIGN_INS = Number(process.env.BENCH_SIGN_INS ?? 40);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500);
const WARM_UP = 5;

type Profile = 'plain' | 'fapi2' | 'fapi2-nonce';

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ??
    NaN
  );
}

function describe(samples: readonly number[]): string {
  const f = (v: number) => (v < 1 ? `${(v * 1000).toFixed(0)} µs` : `${v.toFixed(2)} ms`);
  return `p50 ${f(percentile(samples, 50))}  p95 ${f(percentile(samples, 95))}  (n=${samples.length})`;
}

async function runProfile(profile: Profile): Promise<void> {
  const appUrl = `http://localhost:${await findFreePort()}`;
  const fapi2 = profile !== 'plain';
  const nonce = profile === 'fapi2-nonce';
  const op = await startInProcessProvider(appUrl, {
    keyType: 'ec',
    appEnv: {
      ...(fapi2 ? { OIDC_PROFILE: 'fapi2' } : { OIDC_ID_TOKEN_SIGNED_RESPONSE_ALG: 'RS256' }),
      ...(nonce ? { API_DPOP_NONCE: 'true' } : {}),
    },
    providerEnv: {
      ...(fapi2 ? { PROVIDER_PROFILE: 'fapi2' } : {}),
      ...(nonce ? { PROVIDER_DPOP_NONCE: 'true' } : {}),
    },
  });
  const api = await startApiServer(appUrl);
  const quiet = console.log;
  const log = (line: string) => quiet(`[${profile}] ${line}`);
  console.log = () => undefined;
  console.warn = () => undefined;
  try {
    const redirectUri = `${appUrl}/auth/callback`;
    const login: number[] = [];
    const callback: number[] = [];
    const requests: number[] = [];
    for (let i = 0; i < WARM_UP + SIGN_INS; i++) {
      let t = performance.now();
      const { url, transaction } = await startSignIn('/profile');
      const loginMs = performance.now() - t;
      const answer = await driveSignIn(url, {
        login: 'alice',
        password: 'alice-password',
        redirectUri,
      });
      t = performance.now();
      const result = await completeSignIn(answer.searchParams, transaction);
      const callbackMs = performance.now() - t;
      if (i < WARM_UP) continue;
      login.push(loginMs);
      callback.push(callbackMs);
      requests.push(result.trace.requests.length + (transaction.par?.attempts.length ?? 0));
    }
    log(`/auth/login work      ${describe(login)}`);
    log(`/auth/callback work   ${describe(callback)}`);
    log(`sign-in back channel  ${describe(login.map((v, i) => v + (callback[i] ?? 0)))}`);
    log(`back-channel requests per sign-in: ${percentile(requests, 50)}`);

    // The API: the decision in-process, on (token, proof) pairs the client really sent.
    const { token } = await getApiAccessToken();
    const { api: settings, httpTimeoutMs } = getConfig();
    const http: number[] = [];
    api.seen.length = 0;
    for (let i = 0; i < WARM_UP + REQUESTS; i++) {
      const t = performance.now();
      const answer = await callApi(settings.messagesUrl, token, httpTimeoutMs);
      if (answer.status !== 200) throw new Error(`API answered ${answer.status}`);
      if (i >= WARM_UP) http.push(performance.now() - t);
    }
    log(`API call over HTTP    ${describe(http)}  (${token.dpopKey ? 'DPoP' : 'Bearer'})`);
    const accepted = api.seen.filter((r) => r.status === 200);
    const base = getApiPolicy();
    const policy = {
      ...base,
      dpop: base.dpop && { ...base.dpop, replay: createMemoryReplayStore() },
    };
    const decisions: number[] = [];
    for (const [i, sent] of accepted.entries()) {
      const request = new Request(settings.messagesUrl, {
        headers: {
          authorization: sent.authorization ?? '',
          ...(sent.dpop ? { dpop: sent.dpop } : {}),
        },
      });
      const t = performance.now();
      const decision = await authorizeRequest(request, policy, getProviderJwks);
      if (i >= WARM_UP) decisions.push(performance.now() - t);
      // A stale nonce is refused for the nonce, after the rest of the proof checks: still counted.
      if (!decision.ok && !(nonce && decision.status === 401)) throw new Error(decision.reason);
    }
    log(`API decision in-process ${describe(decisions)}  (${token.dpopKey ? 'DPoP' : 'Bearer'})`);
  } finally {
    console.log = quiet;
    api.stop();
    op.stop();
  }
}

const only = process.argv[2] as Profile | undefined;
if (only) {
  await runProfile(only);
  process.exit(0);
} else {
  for (const profile of ['plain', 'fapi2', 'fapi2-nonce'] as const) {
    const { command, args } = tsxNode('bench/fapi2.ts', [profile]);
    execFileSync(command, args, { stdio: 'inherit' });
  }
}
