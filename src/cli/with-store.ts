/**
 * Opens the store for one command and closes it after, telling the user what the open swept. In
 * the service the store stays open across commands (env.openStore): no SQLite open, and no WAL
 * checkpoint with its fsyncs at every close; each command still sweeps tmp/ first, as an open
 * does, for what a killed process outside the service left.
 */
import { openStore, type Store } from '../index.js';
import type { CommandEnv, Parsed } from './command.js';
import { int } from './command.js';

/**
 * @example
 * return withStore(env, parsed, (store) => { ...; return 0; });
 */
export async function withStore<T>(env: CommandEnv, parsed: Parsed | null, fn: (store: Store) => Promise<T> | T): Promise<T> {
  const limits = parsed === null ? {} : {
    ...(int(parsed, 'max-entries') !== undefined ? { maxEntries: int(parsed, 'max-entries') } : {}),
    ...(int(parsed, 'max-depth') !== undefined ? { maxDepth: int(parsed, 'max-depth') } : {}),
    ...(int(parsed, 'max-size') !== undefined ? { maxBytes: int(parsed, 'max-size') } : {}),
  };
  // A driver asked for is checked against the store's by a fresh open (DRIVER_MISMATCH).
  const kept = env.openStore !== undefined && Object.keys(limits).length === 0 && env.storage === undefined;
  const storage = env.storage === undefined ? {} : {
    ...(env.storage.driver !== undefined ? { storageDriver: env.storage.driver } : {}), storageOptions: env.storage.options,
  };
  const store = kept ? (env.openStore as (root: string) => Store)(env.root) : openStore({ root: env.root, limits, ...storage });
  try {
    for (const s of kept ? store.sweep() : store.swept) {
      env.io.stderr.write(`shibafu: swept ${s.kind} leftover of an interrupted operation: ${s.path} (${s.action})\n`);
    }
    return await fn(store);
  } finally {
    if (!kept) store.close();
  }
}
