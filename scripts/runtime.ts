/**
 * Proves which Node.js runs the project's scripts. `npm install` brings the official Node.js build
 * named in package.json (the `node` package) into node_modules/.bin, which npm puts first on PATH
 * for every script, so the system's Node.js (possibly end-of-life) only runs npm itself.
 *
 * Fails when the running major is not the one in .nvmrc, or the build is not an LTS release.
 */
import { readFileSync } from 'node:fs';

const wanted = readFileSync(new URL('../.nvmrc', import.meta.url), 'utf8').trim();
const major = process.versions.node.split('.')[0];
const lts = process.release.lts;
console.log(`Node.js ${process.version}${lts ? ` (LTS "${lts}")` : ''} at ${process.execPath}`);
if (major !== wanted || !lts) {
  console.error(
    `This project runs on Node.js ${wanted} LTS; got ${process.version}${lts ? '' : ' (not an LTS build)'}. ` +
      'Run `npm ci` (it installs the pinned Node.js into node_modules/.bin) and start scripts with `npm run …`.',
  );
  process.exit(1);
}
