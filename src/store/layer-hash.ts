/**
 * The diffId of a layer directory: its deterministic OCI tar (tar/tar-packer.ts) streamed through
 * sha256, never written anywhere. Synchronous on purpose: no promise per chunk.
 */
import { createHash } from 'node:crypto';
import type { DiffId } from '../ids.js';
import { packLayerSync, type PackSettler } from '../tar/tar-packer.js';
import { packTreeChangesSync } from '../changes/pack-tree-changes.js';
import type { Changeset } from '../snapshots/snapshotter.js';
import type { XattrPort } from './ports.js';

export interface LayerHash {
  readonly diffId: DiffId;
  /** Entries in the tar. */
  readonly entries: number;
  /** Bytes of the uncompressed tar (the layer's size, as podman and containerd report it). */
  readonly bytes: number;
}

/**
 * `settle`: changes the tree in place as it is walked (the move commit's upper, settle-upper.ts).
 *
 * @example
 * const { diffId } = hashLayerDir(layerDiffDir(ctx, chainId), ports);
 */
export function hashLayerDir(dir: string, xattrs: XattrPort, signal?: AbortSignal, settle?: PackSettler): LayerHash {
  return hashTar(packLayerSync(dir, {
    xattrs: { list: (p) => xattrs.llistxattr(p), get: (p, n) => xattrs.lgetxattr(p, n) },
    ...(signal !== undefined ? { signal } : {}),
    ...(settle !== undefined ? { settle } : {}),
  }));
}

/** Streams a packer's tar through sha256, written nowhere. */
function hashTar(gen: Generator<Buffer, { readonly entries: number; readonly bytes: number }, undefined>): LayerHash {
  const hash = createHash('sha256');
  for (;;) {
    const next = gen.next();
    if (next.done === true) {
      return { diffId: `sha256:${hash.digest('hex')}` as DiffId, entries: next.value.entries, bytes: next.value.bytes };
    }
    hash.update(next.value);
  }
}

/**
 * The diffId of a snapshot's changes in its driver's format: an overlay changeset packed as it is,
 * or (dir format) the difference between its tree and its parent's (`emptyDir` for none).
 *
 * @example
 * hashChangeset(ctx.snapshots.changeset(key), ctx.ports, ctx.layout.empty)
 */
export function hashChangeset(changeset: Changeset, xattrs: XattrPort, emptyDir: string, signal?: AbortSignal): LayerHash {
  if (changeset.format === 'overlay') return hashLayerDir(changeset.dir, xattrs, signal);
  return hashTar(packTreeChangesSync(changeset.parentDir ?? emptyDir, changeset.dir, { xattrs, ...(signal !== undefined ? { signal } : {}) }));
}
