/**
 * How a layer's changes reach a whole-tree driver's snapshot (btrfs, zfs): as an OCI layer tar,
 * applied in dir format (real deletions) onto the import snapshot prepared on the parent, hashed
 * in the same pass. The producers that copy an overlay changeset elsewhere (a running container's
 * commit, --from-dir, diff-create) give their changes here as the tar the export of the new layer
 * will be, so its diffId is that tar's digest. `layer apply` gives a layer's tar here on every
 * driver: what its whiteouts hide depends on the base it goes on.
 */
import { createHash } from 'node:crypto';
import type { DiffId } from '../ids.js';
import { assertXattrsSupported } from '../snapshots/assert-xattrs-supported.js';
import { toApplyOp, type ApplyOp } from '../tar/apply-op.js';
import { DIR_LAYER_FORMAT } from '../format/layer-format.js';
import { createLayerApplier, type OpApplier } from '../tar/layer-applier.js';
import { TarParser } from '../tar/tar-parser.js';
import { TarSplitWriter } from '../tar/tar-split.js';
import { newWriteStats, type WriteStats } from '../changes/node-writer.js';
import type { LayerHash } from './layer-hash.js';
import { stagedApplier, type StagedLayerDirs } from './layer-commit.js';
import type { StoreContext } from './store-context.js';

/** A tar applied to a tree: its digest and size, and what it wrote (counted as an overlay changeset's copy counts). */
export interface TreeWrite extends LayerHash {
  readonly stats: WriteStats;
}

/**
 * Applies the tar `chunks` onto the tree `dir` in dir format; returns the tar's digest and size.
 *
 * @example
 * const hashed = applyTarToTreeSync(ctx, staged.diffDir, chunksOf(packTreeChangesSync(parentTree, containerTree, { xattrs: ctx.ports })));
 */
export function applyTarToTreeSync(ctx: StoreContext, dir: string, chunks: Iterable<Buffer>, signal?: AbortSignal): TreeWrite {
  const w = treeWriter(ctx, createLayerApplier({ format: DIR_LAYER_FORMAT, root: dir, ports: ctx.ports, limits: ctx.limits }));
  try {
    for (const chunk of chunks) {
      signal?.throwIfAborted();
      w.write(chunk);
    }
    return w.end();
  } catch (err) {
    w.abort();
    throw err;
  }
}

/**
 * A tar that comes asynchronously (a layer's export) applied to a staged layer in its driver's
 * format (stagedApplier), writing its tar-split record to `tarSplit`: a layer applied onto
 * another base than the one it was made on exports its own tar then, not the difference of the
 * two trees (which would not be it).
 *
 * @example
 * const hashed = await applyTarToTree(ctx, staged, layerTar(ctx, layer, signal), { tarSplit: ctx.layout.tarSplitIn(staged.layerDir) });
 */
export async function applyTarToTree(ctx: StoreContext, staged: StagedLayerDirs, chunks: AsyncIterable<Buffer>, options: { readonly tarSplit: string; readonly signal?: AbortSignal }): Promise<TreeWrite> {
  const split = new TarSplitWriter(options.tarSplit);
  const w = treeWriter(ctx, stagedApplier(ctx, staged), split);
  try {
    for await (const chunk of chunks) {
      options.signal?.throwIfAborted();
      w.write(chunk);
      const drained = split.ready();
      if (drained !== null) await drained;
    }
    const hashed = w.end();
    await split.close();
    return hashed;
  } catch (err) {
    w.abort();
    split.destroy();
    throw err;
  }
}

function treeWriter(ctx: StoreContext, applier: OpApplier, split?: TarSplitWriter): { write(chunk: Buffer): void; end(): TreeWrite; abort(): void } {
  const hash = createHash('sha256');
  const checkXattrs = xattrCheck(ctx);
  const stats = newWriteStats();
  let bytes = 0;
  let toFile = false;
  const parser = new TarParser({
    onEntry: (entry) => {
      const op = toApplyOp(entry, ctx.limits);
      checkXattrs(op);
      applier.apply(op);
      count(stats, op);
      toFile = op.op === 'file' || op.op === 'sparse';
      if (toFile) split?.content(op);
    },
    // File content goes to the tree; everything else to the tar-split record, where one is kept.
    onData: (chunk) => { if (toFile) applier.data(chunk); else split?.raw(chunk); },
    onEntryEnd: () => { toFile = false; applier.endEntry(); },
    ...(split !== undefined ? { onRaw: (bytes: Buffer) => split.raw(bytes) } : {}),
  });
  return {
    write(chunk) {
      hash.update(chunk);
      bytes += chunk.length;
      parser.write(chunk);
    },
    end() {
      parser.end();
      applier.finish();
      return { diffId: `sha256:${hash.digest('hex')}` as DiffId, entries: applier.stats.entries, bytes, stats };
    },
    abort: () => applier.abort(),
  };
}

function count(stats: WriteStats, op: ApplyOp): void {
  switch (op.op) {
    case 'dir': stats.dirs++; break;
    case 'hardlink': stats.links++; break;
    case 'whiteout': stats.whiteouts++; break;
    case 'file': stats.files++; stats.bytes += op.size; break;
    case 'sparse': stats.files++; stats.bytes += op.map.realSize; break;
    case 'symlink': case 'device': stats.files++; break;
    default: break;
  }
}

/**
 * What every import into the store's driver checks of an entry before applying it: a driver whose
 * file system holds no xattrs (zfs-fuse) refuses a layer that has some, by name, rather than
 * dropping them. A no-op for the others.
 *
 * @example
 * const check = xattrCheck(ctx); ... check(toApplyOp(entry, limits));
 */
export function xattrCheck(ctx: StoreContext): (op: ApplyOp) => void {
  if (ctx.snapshots.capabilities.xattrs) return () => {};
  return (op) => {
    if ('attrs' in op) assertXattrsSupported(ctx.snapshots, { path: op.parts.join('/'), xattrs: op.attrs.xattrs });
  };
}

/** A synchronous generator's chunks, without its return value. */
export function* chunksOf(gen: Generator<Buffer, unknown, undefined>): Generator<Buffer> {
  for (;;) {
    const next = gen.next();
    if (next.done === true) return;
    yield next.value;
  }
}
