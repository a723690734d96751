import { log } from './log';
import { processSingleton } from './process-slot';

/**
 * Whether the session store is reachable, as this process last saw it. Kept per process (not per
 * bundle) so that `proxy.ts` can answer 503 at once during an outage that a route handler
 * noticed, and so that an outage is logged once, not once per request: one line when it begins,
 * one when it ends.
 */

type Health = { down: boolean; since: number; failures: number; lastProbe: number };

const health = processSingleton<Health>('session-store-health', () => ({
  down: false,
  since: 0,
  failures: 0,
  lastProbe: 0,
}));

/** During an outage, one request in this many milliseconds still tries the store (a probe). */
export const PROBE_INTERVAL_MS = 1000;

/** Records a failed store operation; logs only the first failure of an outage. */
export function reportStoreFailure(detail: string): void {
  health.failures += 1;
  if (health.down) return;
  health.down = true;
  health.since = Date.now();
  log.error('session store unreachable: requests that need a session answer 503 until it is back', {
    detail,
  });
}

/** Records a working store; ends an outage (and logs its length) if there was one. */
export function reportStoreSuccess(): void {
  if (!health.down) return;
  log.info('session store reachable again', {
    outage_ms: Date.now() - health.since,
    failed_operations: health.failures,
  });
  health.down = false;
  health.failures = 0;
}

/** True while the store is known to be unreachable. */
export function isStoreDown(): boolean {
  return health.down;
}

/**
 * Whether a request that needs the session should be answered 503 at once, without trying the
 * store: during a known outage, yes, except one request per {@link PROBE_INTERVAL_MS}, which goes
 * through so that a store that came back is noticed even if its client never reconnected.
 */
export function shouldAnswerUnavailable(now = Date.now()): boolean {
  if (!health.down) return false;
  if (now - health.lastProbe >= PROBE_INTERVAL_MS) {
    health.lastProbe = now;
    return false;
  }
  return true;
}
