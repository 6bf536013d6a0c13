/**
 * CreateContainerWithLayers: a stack, a fresh writable upper, a merged mount and a runtime bundle.
 *
 * Crash safety (DESIGN.md): the directory is made in tmp/ and renamed into containers/ in the
 * transaction that inserts the row, so a directory without a row is a leftover the next open
 * sweeps; the mount follows the commit, and a row whose mount is missing is shown as such and
 * mounted again by `start`.
 */
import * as fs from 'node:fs';
import { existsSync } from 'node:fs';
import { containerById, deleteContainer, insertContainer, nameTaken, type ContainerId, type ContainerRow } from '../db/container-queries.js';
import { imageById } from '../db/image-queries.js';
import { existingLayerIds, type LayerRow } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import { removeActive } from '../store/layer-files.js';
import { chainTops, expandStack } from '../store/layer-mounts.js';
import { Staging, type StagingIntent } from '../store/staging.js';
import type { StoreContext } from '../store/store-context.js';
import { fsyncDir } from '../sys/sync.js';
import { containerSpec, writeBundle } from './container-bundle.js';
import { generateName, newContainerId, validateContainerName, type ContainerConfig } from './container-config.js';
import { containerSnapshot, mountContainer, unmountContainer } from './container-mount.js';

export interface CreateContainerOptions {
  /** The named layers, sealed; each brings its ancestors (see expandStack). */
  readonly layers: readonly LayerRow[];
  readonly name?: string;
  readonly config: ContainerConfig;
  /** The image it is made from (its top layer is `layers`' last): the image cannot go while it exists. */
  readonly imageId?: number;
}

/**
 * Creates a container (state `created`), mounted and ready to start.
 *
 * @example
 * const row = await createContainer(ctx, { layers: [app], config: containerConfig({ args: ['python3', '/app/app.py'] }) });
 */
export async function createContainer(ctx: StoreContext, options: CreateContainerOptions): Promise<ContainerRow> {
  // One read transaction for the whole walk up the chains (500 parent lookups on a deep stack).
  const stack = ctx.db.read(() => expandStack(ctx, options.layers));
  if (stack.length === 0) throw new ShibafuError('USAGE', 'Cannot create a container: name at least one layer', { hint: 'Example: shibafu run --layers base sh' });
  checkVolumes(options.config);
  const id = newContainerId() as ContainerId;
  const row = insertStaged(ctx, id, stack, options);
  try {
    mountContainer(ctx, row, { volatile: options.config.autoRemove });
    writeBundle(ctx.layout, id, containerSpec(ctx.layout, id, options.config));
  } catch (err) {
    await discardContainer(ctx, id);
    throw err;
  }
  return row;
}

function insertStaged(ctx: StoreContext, id: ContainerId, stack: readonly LayerRow[], options: CreateContainerOptions): ContainerRow {
  // A --rm container is thrown away at its end, and after a crash too: its creation need not
  // survive a power failure, so it skips the fsyncs (three of them were ~20 ms of `run --rm`).
  const durability = { durable: !options.config.autoRemove };
  const stage = Staging.create(ctx.layout, 'container', ctx.ports);
  try {
    const dir = stage.sub('container');
    fs.mkdirSync(dir, 0o700);
    fs.mkdirSync(`${dir}/merged`, 0o755);
    fs.mkdirSync(`${dir}/bundle`, 0o700);
    return ctx.db.immediate(() => {
      const name = pickName(ctx, options.name);
      if (existingLayerIds(ctx.db, stack.map((l) => l.id)).size !== new Set(stack.map((l) => l.id)).size) {
        throw new ShibafuError('LAYER_NOT_FOUND', 'Cannot create the container: a layer of its stack was removed meanwhile');
      }
      if (options.imageId !== undefined && imageById(ctx.db, options.imageId) === undefined) {
        throw new ShibafuError('IMAGE_NOT_FOUND', 'Cannot create the container: its image was removed meanwhile');
      }
      const snapshot = containerSnapshot(id);
      stage.setIntent<StagingIntent>({ kind: 'container', target: ctx.layout.containerDir(id), containerId: id, snapshot }, durability);
      fs.renameSync(dir, ctx.layout.containerDir(id));
      if (durability.durable) fsyncDir(ctx.layout.containers);
      insertContainer(ctx.db, { id, name, command: options.config.args, config: JSON.stringify(options.config), created: ctx.now(), layerIds: stack.map((l) => l.id), imageId: options.imageId ?? null });
      // Its writable layer, last in the transaction: a --rm container's is volatile (no syncs;
      // thrown away at its end).
      ctx.snapshots.prepare(snapshot, chainTops(stack), { volatile: options.config.autoRemove });
      return containerById(ctx.db, id) as ContainerRow;
    }, durability);
  } finally {
    stage.dispose();
  }
}

/** The given name (checked, free) or a generated one; inside the write transaction. */
function pickName(ctx: StoreContext, wanted: string | undefined): string {
  if (wanted !== undefined) {
    validateContainerName(wanted);
    if (nameTaken(ctx.db, wanted)) {
      throw new ShibafuError('NAME_IN_USE', `Cannot create container "${wanted}": a container has that name`, {
        hint: `Pick another --name, or remove the other one: shibafu container rm ${wanted}`,
      });
    }
    return wanted;
  }
  for (;;) {
    const name = generateName();
    if (!nameTaken(ctx.db, name)) return name;
  }
}

function checkVolumes(config: ContainerConfig): void {
  for (const v of config.volumes) {
    if (!existsSync(v.source)) {
      throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot mount volume ${v.source}:${v.destination}: ${v.source} does not exist`, {
        hint: `Create it first (mkdir -p ${v.source}).`,
      });
    }
  }
}

/**
 * Undoes a half-made container: unmounts, drops the row and deletes its directory. Also the last
 * step of `rm`.
 *
 * @example
 * await discardContainer(ctx, id);
 */
export async function discardContainer(ctx: StoreContext, containerId: ContainerId, options: { durable?: boolean } = {}): Promise<void> {
  await unmountContainer(ctx, { id: containerId });
  const durability = { durable: options.durable !== false };
  const stage = Staging.create(ctx.layout, 'remove', ctx.ports);
  try {
    ctx.db.immediate(() => {
      const dir = ctx.layout.containerDir(containerId);
      stage.setIntent<StagingIntent>({ kind: 'remove', target: dir, containerId, snapshot: containerSnapshot(containerId) }, durability);
      deleteContainer(ctx.db, containerId);
      // Moved in the transaction, deleted after it: a crash in between leaves only tmp/ to sweep.
      if (fs.existsSync(dir)) fs.renameSync(dir, stage.sub('layer'));
    }, durability);
    // Its writable layer goes after the row, outside the write lock; should that fail, the intent
    // stays for the next open's sweep to finish it (undoRemove).
    try {
      removeActive(ctx, containerSnapshot(containerId));
    } catch (err) {
      stage.abandon();
      throw err;
    }
  } finally {
    // The container's other files go here, outside the write lock (Staging.dispose removes the dir).
    stage.dispose();
  }
}
