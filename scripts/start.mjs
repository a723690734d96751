// `npm start`: the app's production server, `next start` for this app's folder (its options:
// `npm start -- -p 8080`), with Node.js's compile cache on before the first module of Next.js
// loads. `next start` alone turns it on only once it reads next.config.js, after some 270 of
// Next.js's modules (2 MB of code) have been compiled again at every start: from here, a restart
// reaches its first page about 20 ms sooner (`npm run bench`: cold start).
// Plain JavaScript, run by `node` itself: a TypeScript runner would cost more than it saves.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { APP_DIR, enableAppCompileCache } from './compile-cache.mjs';

enableAppCompileCache();
const require = createRequire(import.meta.url);
// Next.js's CLI reads its command and arguments from process.argv, after node and the script.
process.argv.splice(2, 0, 'start', APP_DIR);
require(join(dirname(require.resolve('next/package.json')), 'dist', 'bin', 'next'));
