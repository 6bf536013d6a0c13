/**
 * What `ps` and `container inspect` show of a container: plain data (the CLI renders it).
 */
import { layerById, namesOf } from '../db/layer-queries.js';
import type { ContainerId, ContainerRow, ContainerState } from '../db/container-queries.js';
import type { ChainId } from '../ids.js';
import type { StoreContext } from '../store/store-context.js';
import { parseStoredConfig, type ContainerConfig } from './container-config.js';
import { containerSnapshot } from './container-mount.js';

export interface ContainerView {
  readonly id: ContainerId;
  readonly name: string;
  readonly state: ContainerState;
  /** The exit status of the last run; null while running, before the first run, or when the end was not seen. */
  readonly exitStatus: number | null;
  readonly pid: number | null;
  readonly command: string[];
  /**
   * The stack, bottom first. `committed`: a layer the container's own commit moved its upper into
   * (container-commit.ts): its changes are still listed by `container diff`.
   */
  readonly stack: { chainId: ChainId | null; names: string[]; committed: boolean }[];
  readonly created: string;
  readonly started: string | null;
  readonly finished: string | null;
  /** False when the stack's mount vanished (a reboot, umount(8)); `start` mounts it again. */
  readonly mounted: boolean;
  readonly config: ContainerConfig;
  readonly paths: { dir: string; upper: string; work: string; merged: string; bundle: string; log: string };
}

/**
 * @example
 * toView(ctx, await reconcile(cc, row), isContainerMounted(ctx, row))
 */
export function toView(ctx: StoreContext, row: ContainerRow, mounted: boolean): ContainerView {
  const l = ctx.layout;
  const stack = ctx.db.read(() => row.layerIds.map((id, position) => {
    const layer = layerById(ctx.db, id);
    return { chainId: layer?.chainId ?? null, names: layer === undefined ? [] : namesOf(ctx.db, id), committed: position >= row.imageLayers };
  }));
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    exitStatus: row.exitStatus,
    pid: row.state === 'running' ? row.pid : null,
    command: row.command,
    stack,
    created: row.created,
    started: row.started,
    finished: row.finished,
    mounted,
    config: parseStoredConfig(row.config),
    paths: {
      dir: l.containerDir(row.id),
      ...snapshotDirs(ctx, row.id),
      merged: l.containerMerged(row.id),
      bundle: l.containerBundle(row.id),
      log: l.containerLog(row.id),
    },
  };
}

/** Where the container's snapshot keeps its changes and overlay's workdir ('' when it has none). */
function snapshotDirs(ctx: StoreContext, containerId: string): { upper: string; work: string } {
  try {
    const [m] = ctx.snapshots.mounts(containerSnapshot(containerId));
    if (m === undefined) return { upper: '', work: '' };
    if (m.type === 'bind') return { upper: m.source, work: '' };
    return { upper: m.upper ?? '', work: m.work ?? '' };
  } catch {
    return { upper: '', work: '' };
  }
}
