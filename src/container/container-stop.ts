/**
 * Ending a container: `stop` (SIGTERM, then SIGKILL after a grace period, as podman does), `kill`
 * (one signal), and waiting for the end to be recorded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { containerById, markStopped, type ContainerRow } from '../db/container-queries.js';
import { ShibafuError } from '../errors.js';
import { parseStoredConfig } from './container-config.js';
import type { ContainerContext } from './container-context.js';
import { reconcile } from './container-state.js';

/** Podman's default grace period. */
export const DEFAULT_STOP_SECONDS = 10;

/** How long SIGKILL may take to be seen (the kernel tears the pid namespace down). */
const KILL_WAIT_MS = 10_000;

/**
 * Stops a running container; a container that is not running is left as it is (not an error,
 * as with podman). Returns the row as it ends up.
 *
 * @example
 * await stopContainer(cc, row, { timeoutSeconds: 10 });
 */
export async function stopContainer(cc: ContainerContext, row: ContainerRow, options: { timeoutSeconds?: number } = {}): Promise<ContainerRow> {
  let current = await reconcile(cc, row);
  if (current.state !== 'running') return current;
  const runtime = cc.runtime(parseStoredConfig(row.config).runtime);
  const grace = (options.timeoutSeconds ?? DEFAULT_STOP_SECONDS) * 1000;
  if (grace > 0) {
    await runtime.kill(row.id, 'SIGTERM');
    current = await waitForEnd(cc, current, grace);
  }
  if (current.state === 'running') {
    await runtime.kill(row.id, 'SIGKILL');
    current = await waitForEnd(cc, current, KILL_WAIT_MS);
    if (current.state === 'running') {
      throw new ShibafuError('CONTAINER_STATE', `Cannot stop container "${row.name}": it still runs after SIGKILL`, {
        hint: 'A process stuck in the kernel (D state) cannot die until its I/O ends; check dmesg.',
      });
    }
  }
  cc.store.db.immediate(() => markStopped(cc.store.db, row.id), { durable: false });
  return { ...current, state: current.state === 'exited' ? 'stopped' : current.state };
}

/**
 * Sends one signal to a running container's init.
 *
 * @example
 * await killContainer(cc, row, 'SIGHUP');
 */
export async function killContainer(cc: ContainerContext, row: ContainerRow, signal: NodeJS.Signals): Promise<void> {
  const current = await reconcile(cc, row);
  const sent = current.state === 'running' && await cc.runtime(parseStoredConfig(row.config).runtime).kill(row.id, signal);
  if (!sent) {
    throw new ShibafuError('CONTAINER_STATE', `Cannot signal container "${row.name}": it is not running`, {
      hint: `Start it: shibafu container start ${row.name}`,
    });
  }
}

/**
 * Waits until the container's end is recorded (by its owner, or by reconciling), at most
 * `timeoutMs`. Returns the last row seen; a removed container counts as ended.
 */
export async function waitForEnd(cc: ContainerContext, row: ContainerRow, timeoutMs: number): Promise<ContainerRow> {
  const deadline = Date.now() + timeoutMs;
  let current = row;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    const fresh = cc.store.db.read(() => containerById(cc.store.db, row.id));
    if (fresh === undefined) return { ...current, state: 'exited' };
    current = await reconcile(cc, fresh);
    if (current.state !== 'running' || Date.now() >= deadline) return current;
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
  }
}
