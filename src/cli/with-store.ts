/**
 * Opens the store for one command and closes it after, telling the user what the open swept.
 */
import { openStore, type Store } from '../store/store.js';
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
  const store = openStore({ root: env.root, limits });
  try {
    for (const s of store.swept) {
      env.io.stderr.write(`shibafu: swept ${s.kind} leftover of an interrupted operation: ${s.path} (${s.action})\n`);
    }
    return await fn(store);
  } finally {
    store.close();
  }
}
