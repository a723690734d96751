import { processSingleton } from './process-slot';
import { createMemoryReplayStore, type ReplayStore } from './replay-store';

/**
 * This app's replay store for DPoP proofs at its API: one per process, in memory.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export function getReplayStore(): ReplayStore {
  return processSingleton('dpop-replay-store', () => createMemoryReplayStore());
}
