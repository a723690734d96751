// Loaded with `node --import` by the repository's own test of `npm run test:provider` behind a
// proxy (scripts/test-provider-bundled.ts): resolves the made-up public host name `rp.test` to
// 127.0.0.1 in Node.js, as Chromium's --host-resolver-rules does in the browser, without the
// internet or /etc/hosts. Every other name resolves as usual.
import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';

const HOST = 'rp.test';
const lookup = dns.lookup;

dns.lookup = function lookupTestHost(hostname, options, callback) {
  if (hostname !== HOST) return lookup.call(this, hostname, options, callback);
  const done = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all === true;
  process.nextTick(() =>
    all ? done(null, [{ address: '127.0.0.1', family: 4 }]) : done(null, '127.0.0.1', 4),
  );
};
syncBuiltinESMExports();
