import { enableCompileCache } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The app's folder: this file's parent's, whichever folder the server is started from. */
export const APP_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Turns on Node.js's compile cache for the rest of this process: Node.js keeps the bytecode of
 * every module it compiles from here on (Next.js's server, the app's chunks, the packages loaded
 * at run time) and reuses it at the next start, as long as the file is unchanged, so a restarted
 * server compiles almost nothing (`npm run bench`: cold start). Called by `npm start`
 * (./start.mjs) before Next.js loads, and by next.config.js for a server started with `next start`
 * directly, which covers only what loads after the configuration.
 *
 * MUST: in the app's own folder (this file's, not the working directory: `next start <dir>` may be
 * run from anywhere, /tmp included), never a shared one, where another user of the machine could
 * plant code for this one to run. A read-only folder only means no cache. Not under .next/cache,
 * which builds keep: chunk names change with every build, and `next build` empties the rest of
 * .next, so the cache holds the current build's modules only. NODE_COMPILE_CACHE, when set, takes
 * precedence (it also covers what loaded before this file).
 *
 * @see https://nodejs.org/api/module.html#module-compile-cache
 */
export function enableAppCompileCache() {
  return enableCompileCache(join(APP_DIR, '.next', 'node-compile-cache'));
}
