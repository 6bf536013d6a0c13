/**
 * Read-only views of the layer store: what `layer list` and `layer inspect` show. Each view is
 * built from a handful of queries in one read transaction, whatever the number of layers.
 */
import { chainOf, layerSummaries, childrenOf, mountsUsing, namesOf, layerById, type LayerRow } from '../db/layer-queries.js';
import { blobsOfLayer, type BlobCompression } from '../db/blob-queries.js';
import type { ChainId, DiffId, Digest } from '../ids.js';
import type { StoreContext } from './store-context.js';
import { layerSnapshot } from './layer-files.js';

export interface LayerSummary {
  readonly chainId: ChainId | null;
  readonly names: string[];
  readonly parent: ChainId | null;
  readonly state: 'open' | 'sealed';
  readonly size: number;
  readonly files: number;
  readonly created: string;
}

export interface LayerDetails extends LayerSummary {
  readonly diffId: DiffId | null;
  readonly parentNames: string[];
  /** The archive the layer was imported from, as recorded at import (kept or not). */
  readonly blob: { digest: Digest; size: number; mediaType: string | null } | null;
  /** The compressed forms kept in the content store (`layer export --compression` gives them back byte for byte). */
  readonly blobs: { digest: Digest; size: number; mediaType: string; compression: BlobCompression }[];
  readonly source: string;
  readonly sealed: string | null;
  readonly children: { chainId: ChainId | null; names: string[] }[];
  readonly mounts: { target: string; writable: boolean; created: string }[];
  /** The layer's diff directory (an overlay lowerdir). */
  readonly path: string;
  /** Depth of the layer's chain, itself included. */
  readonly depth: number;
}

/**
 * Every layer, oldest first.
 *
 * @example
 * for (const l of listLayers(ctx)) console.log(l.names.join(','), l.size);
 */
export function listLayers(ctx: StoreContext): LayerSummary[] {
  return ctx.db.read(() => layerSummaries(ctx.db));
}

function summarize(l: LayerRow, names: string[], parent: LayerRow | null): LayerSummary {
  return { chainId: l.chainId, names, parent: parent?.chainId ?? null, state: l.state, size: l.size, files: l.files, created: l.created };
}

/** Everything known about one layer. */
export function inspectLayer(ctx: StoreContext, layer: LayerRow): LayerDetails {
  return ctx.db.read(() => {
    const parent = layer.parentId === null ? null : layerById(ctx.db, layer.parentId) ?? null;
    let depth = 1;
    for (let p = parent; p !== null; p = p.parentId === null ? null : layerById(ctx.db, p.parentId) ?? null) depth++;
    return {
      ...summarize(layer, namesOf(ctx.db, layer.id), parent),
      diffId: layer.diffId,
      parentNames: parent === null ? [] : namesOf(ctx.db, parent.id),
      blob: layer.blobDigest === null ? null : { digest: layer.blobDigest, size: layer.blobSize ?? 0, mediaType: layer.mediaType },
      blobs: blobsOfLayer(ctx.db, layer.id).map((b) => ({ digest: b.digest, size: b.size, mediaType: b.mediaType, compression: b.compression })),
      source: layer.source,
      sealed: layer.sealed,
      children: childrenOf(ctx.db, layer.id).map((c) => ({ chainId: c.chainId, names: namesOf(ctx.db, c.id) })),
      mounts: mountsUsing(ctx.db, layer.id).map((m) => ({ target: m.target, writable: m.writable, created: m.created })),
      path: ctx.snapshots.changeset(layerSnapshot(layer)).dir,
      depth,
    };
  });
}

/** The chain from the root layer down to `layer` (bottom first). */
export function ancestry(ctx: StoreContext, layer: LayerRow): LayerRow[] {
  // One recursive query: a 500-layer chain walked row by row cost ~7 ms of a mount's time.
  return chainOf(ctx.db, layer.id);
}

