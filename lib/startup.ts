import { getConfig } from './config';
import { AuthError, ConfigError } from './errors';
import { getClientKeySet } from './keys';
import { describeError, log } from './log';
import { getProvider } from './discovery';
import { loadSessionStore } from './session-backend';

/**
 * Runs once when the server starts (from `instrumentation.ts`): parses the configuration, imports
 * the signing key and discovers the provider, so that a wrong setting stops the app with one clear
 * message instead of surfacing as a failed sign-in later.
 *
 * A provider that cannot be reached yet is not fatal (it may start after the app): discovery is
 * retried on the first sign-in. A provider that contradicts the configuration is.
 */
export async function checkAtStartup(): Promise<void> {
  try {
    const config = getConfig();
    const keys = await getClientKeySet();
    log.info('client keys loaded', {
      file: config.clientKeyFile,
      format: keys.format,
      signing_kid: keys.signing.kid.slice(0, 12),
      alg: keys.signing.alg,
      certificate_x5t_s256: keys.signing.certificate?.x5tS256.slice(0, 12),
      published: keys.published.length,
    });
    // The session store connects now (Redis: in the background; an unreachable one is not fatal,
    // requests that need it answer 503 until it is there). A URL its client refuses is fatal.
    // Side by side with discovery: the Redis client loads while the provider answers.
    const provider = getProvider();
    // Handled now, awaited below: a refused REDIS_URL ends startup first, at once, without
    // waiting for a provider that may take its whole timeout to answer (or never does).
    provider.catch(() => undefined);
    await loadSessionStore();
    await provider;
  } catch (err) {
    if (err instanceof AuthError) {
      log.warn('provider not available at start; will retry on first use', {
        code: err.code,
        detail: err.detail,
      });
      return;
    }
    if (err instanceof ConfigError) {
      console.error(`\n${err.message}\n`);
    } else {
      console.error(`Startup check failed: ${describeError(err)}`);
    }
    process.exit(1);
  }
}
