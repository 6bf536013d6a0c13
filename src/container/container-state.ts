/**
 * Reconciles a container's recorded state with reality, on every read: a process may have ended
 * while no shibafu was watching (killed behind its back, the monitor killed, a reboot).
 */
import * as fs from 'node:fs';
import { markEnded, type ContainerRow } from '../db/container-queries.js';
import type { StoreContext } from '../store/store-context.js';
import { parseStoredConfig } from './container-config.js';
import type { ContainerContext } from './container-context.js';
import { isOwned } from './container-lock.js';

/**
 * The row as it really is. A `running` container is running while its owner holds the lock; with
 * no owner, the monitor's exit file gives its status, else the runtime is asked (a runtime whose
 * `shibafu run` was killed keeps running the container); else it ended unseen: status unknown.
 *
 * @example
 * const row = await reconcile(cc, resolveContainer(db, 'web'));
 */
export async function reconcile(cc: ContainerContext, row: ContainerRow): Promise<ContainerRow> {
  if (row.state !== 'running') return row;
  const ctx = cc.store;
  if (isOwned(ctx, row.id)) return withPid(ctx, row);
  let end = readExitFile(ctx, row.id);
  if (end === null) {
    const state = await cc.runtime(parseStoredConfig(row.config).runtime).state(row.id);
    if (state !== null && state.status !== 'stopped') return { ...row, pid: state.pid };
    end = { exitStatus: null, finished: ctx.now() };
  }
  const recorded = ctx.db.immediate(() => markEnded(ctx.db, row.id, { started: row.started, ...end }), { durable: false });
  if (!recorded) return row;
  return { ...row, state: 'exited', exitStatus: end.exitStatus, finished: end.finished, pid: null };
}

/** What a detached container's monitor wrote when the container ended. */
function readExitFile(ctx: StoreContext, containerId: string): { exitStatus: number | null; finished: string } | null {
  const file = ctx.layout.containerExitFile(containerId);
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    const finished = fs.statSync(file).mtime.toISOString();
    return { exitStatus: /^[0-9]+$/.test(text) ? Number(text) : null, finished };
  } catch {
    return null;
  }
}

/** Fills the pid from the runtime's pid file while the owner has not recorded it. */
function withPid(ctx: StoreContext, row: ContainerRow): ContainerRow {
  if (row.pid !== null) return row;
  const pid = readPidFile(ctx, row.id);
  return pid === null ? row : { ...row, pid };
}

/** The container's host pid as the runtime wrote it (--pid-file), or null. */
export function readPidFile(ctx: StoreContext, containerId: string): number | null {
  try {
    const text = fs.readFileSync(ctx.layout.containerPidFile(containerId), 'utf8').trim();
    return /^[0-9]+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}
