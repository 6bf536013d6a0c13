/**
 * `container rm`: stops (with force), unmounts, forgets the runtime state, and deletes the row with
 * the upper, work, merged and bundle dirs. Works on whatever is left: a vanished mount, a runtime
 * state of a dead process, a directory already gone.
 */
import { containerExists, type ContainerRow } from '../db/container-queries.js';
import { ShibafuError } from '../errors.js';
import { parseStoredConfig } from './container-config.js';
import type { ContainerContext } from './container-context.js';
import { discardContainer } from './container-create.js';
import { tryLockContainer } from './container-lock.js';
import { reconcile } from './container-state.js';
import { waitForEnd } from './container-stop.js';

/** How long `rm` waits for the owner of a container killed with `-f` to record its end. */
const FORCE_WAIT_MS = 10_000;

/**
 * Removes a container. A running one is refused unless `force` (then it is killed first).
 * Returns false when it was already gone (removed by its own `--rm` meanwhile).
 *
 * @example
 * await removeContainer(cc, row, { force: true });
 */
export async function removeContainer(cc: ContainerContext, row: ContainerRow, options: { force: boolean }): Promise<boolean> {
  const ctx = cc.store;
  let current = await reconcile(cc, row);
  const runtime = cc.runtime(parseStoredConfig(row.config).runtime);
  if (current.state === 'running') {
    if (!options.force) {
      throw new ShibafuError('CONTAINER_IN_USE', `Cannot remove container "${row.name}": it is running`, {
        hint: `Stop it first (shibafu container stop ${row.name}), or remove it anyway: shibafu container rm -f ${row.name}`,
      });
    }
    await runtime.kill(row.id, 'SIGKILL');
    current = await waitForEnd(cc, current, FORCE_WAIT_MS);
    if (!ctx.db.read(() => containerExists(ctx.db, row.id))) return false;
    if (current.state === 'running') {
      throw new ShibafuError('CONTAINER_IN_USE', `Cannot remove container "${row.name}": it still runs after SIGKILL`, {
        hint: 'A process stuck in the kernel (D state) cannot die until its I/O ends; retry later.',
      });
    }
  }
  // Holding the lock, nobody can start it while it goes away.
  const lock = tryLockContainer(ctx, row.id);
  if (lock === null) {
    throw new ShibafuError('CONTAINER_IN_USE', `Cannot remove container "${row.name}": another shibafu process is starting or running it`, {
      hint: 'Retry in a moment.',
    });
  }
  try {
    // The runtime keeps the state of a container whose runtime process was killed: forget it.
    await runtime.delete(row.id, { force: true });
    if (!ctx.db.read(() => containerExists(ctx.db, row.id))) return false;
    // A --rm container's removal need not survive a power failure: neither would the container.
    await discardContainer(ctx, row.id, { durable: !parseStoredConfig(row.config).autoRemove });
    return true;
  } finally {
    lock.release();
  }
}
