/**
 * Process-wide state. Next.js bundles `instrumentation.ts` and the route handlers separately, so a
 * module-level variable exists once per bundle: the configuration parsed and the provider
 * discovered at start-up would be parsed and discovered again on the first request. State that
 * must exist once per process lives in a slot on `globalThis` instead.
 */

const REGISTRY: unique symbol = Symbol.for('private-key-jwt-rp.process-slots');
type Holder = { [REGISTRY]?: Map<string, unknown> };

export type ProcessSlot<T> = {
  get(): T | undefined;
  set(value: T | undefined): void;
};

/** The slot named `name`, shared by every bundle of this process. */
export function processSlot<T>(name: string): ProcessSlot<T> {
  const holder = globalThis as Holder;
  const registry = (holder[REGISTRY] ??= new Map<string, unknown>());
  return {
    get: () => registry.get(name) as T | undefined,
    set: (value) => {
      if (value === undefined) registry.delete(name);
      else registry.set(name, value);
    },
  };
}

/** The value in slot `name`, created on first use. */
export function processSingleton<T>(name: string, create: () => T): T {
  const slot = processSlot<T>(name);
  const existing = slot.get();
  if (existing !== undefined) return existing;
  const value = create();
  slot.set(value);
  return value;
}
