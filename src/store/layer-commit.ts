/**
 * The one place a staged layer directory becomes visible: rename into layers/<chainId> and insert
 * its row in the same write transaction. Whoever commits a chainId first wins; a second producer
 * of the same content on the same parent just gets the name added to the existing layer.
 */
import * as fs from 'node:fs';
import { linkLayerBlob, type BlobCompression } from '../db/blob-queries.js';
import { publishBlob, removeUnpublishedBlob, unpublishBlob, type SealedBlob } from '../content/blob-publish.js';
import { insertSealedLayer, layerByChainId, layerById, nameTarget, upsertName, type LayerRow, type LayerSource } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import { asChainId, chainIdOf, type DiffId, type Digest } from '../ids.js';
import { fsyncDir } from '../sys/sync.js';
import type { Staging, StagingIntent } from './staging.js';
import type { IntentUndo } from './store-intents.js';
import type { StoreContext } from './store-context.js';

export interface StagedLayer {
  /** The staged layer directory (holding `diff/`), inside the staging dir. */
  readonly dir: string;
  readonly diffId: DiffId;
  readonly parent: LayerRow | null;
  readonly size: number;
  readonly files: number;
  readonly blobDigest: Digest | null;
  readonly blobSize: number | null;
  readonly mediaType: string | null;
  readonly source: LayerSource;
  readonly tarSplit: boolean;
  /** Compressed forms of the layer to keep in the content store, published with its row. */
  readonly blobs?: readonly StagedLayerBlob[];
}

/** The archive an import read, kept as it came (content/blob-ingest.ts wrote and verified it). */
export interface StagedLayerBlob {
  readonly sealed: SealedBlob;
  readonly compression: BlobCompression;
  readonly mediaType: string;
}

/**
 * For a producer whose staged layer was taken from somewhere else (a container's upper, moved):
 * its own intent, recorded instead of an import's, and what to do inside the publishing
 * transaction, whether the chainId was new or already stored.
 */
export interface PublishHooks {
  readonly intent: StagingIntent;
  /** Before the staged dir is published (the moves that fill it go here). */
  beforePublish(): void;
  /** Once the layer is known (the new one, or the stored one with the same chainId). */
  afterPublish(layer: LayerRow): void;
}

export interface CommitResult {
  readonly layer: LayerRow;
  /** True when a layer with this chainId was already stored and only the name was added. */
  readonly existed: boolean;
}

/**
 * Commits a staged layer; the staging dir is disposed of by the caller either way.
 *
 * @example
 * const { layer, existed } = commitStagedLayer(ctx, stage, staged, 'base');
 */
export function commitStagedLayer(ctx: StoreContext, stage: Staging, staged: StagedLayer, name: string | null, hooks?: PublishHooks): CommitResult {
  const chainId = chainIdOf(staged.parent?.chainId ?? null, staged.diffId);
  const target = ctx.layout.layerDir(chainId);
  const blobs = staged.blobs ?? [];
  try {
    return ctx.db.immediate(() => {
      if (name !== null) assertNameFree(ctx, name, chainId);
      const existing = layerByChainId(ctx.db, chainId);
      if (staged.parent !== null && layerById(ctx.db, staged.parent.id) === undefined) {
        throw new ShibafuError('LAYER_NOT_FOUND', 'Cannot create layer: its parent was removed meanwhile', { hint: 'Create the parent again, then retry.' });
      }
      if (hooks !== undefined) {
        stage.setIntent(hooks.intent);
        hooks.beforePublish();
      } else if (blobs.length > 0 || existing === undefined) {
        // The blobs are published for a stored layer too (it gains a compressed form), so the
        // intent that lets a sweep remove a blob file left without its row comes first.
        stage.setIntent<StagingIntent>({ kind: 'import', target, chainId, ...(blobs.length > 0 ? { blobs: blobs.map((b) => b.sealed.digest) } : {}) });
      }
      if (existing !== undefined) {
        if (name !== null) upsertName(ctx.db, name, existing.id, ctx.now());
        attachBlobs(ctx, existing, blobs);
        hooks?.afterPublish(existing);
        return { layer: existing, existed: true };
      }
      // Holding the write lock, a directory without a row is a leftover of a killed process.
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(staged.dir, target);
      fsyncDir(ctx.layout.layers);
      const id = insertSealedLayer(ctx.db, {
        chainId, diffId: staged.diffId, parentId: staged.parent?.id ?? null, size: staged.size, files: staged.files,
        blobDigest: staged.blobDigest, blobSize: staged.blobSize, mediaType: staged.mediaType, source: staged.source,
        tarSplit: staged.tarSplit, created: ctx.now(),
      });
      if (name !== null) upsertName(ctx.db, name, id, ctx.now());
      const layer = layerById(ctx.db, id) as LayerRow;
      attachBlobs(ctx, layer, blobs);
      hooks?.afterPublish(layer);
      return { layer, existed: false };
    });
  } catch (err) {
    // A blob renamed into blobs/ by the transaction that failed goes back into the staging dir,
    // which the caller disposes of.
    for (const b of blobs) unpublishBlob(ctx, b.sealed);
    throw err;
  }
}

/** Publishes the layer's blobs and links them to it (inside the publishing transaction). */
function attachBlobs(ctx: StoreContext, layer: LayerRow, blobs: readonly StagedLayerBlob[]): void {
  for (const b of blobs) {
    publishBlob(ctx, b.sealed, b.mediaType);
    linkLayerBlob(ctx.db, { layerId: layer.id, digest: b.sealed.digest, compression: b.compression, mediaType: b.mediaType });
  }
}

/**
 * Makes `layer/` (0700) and its empty `diff/` (0755) inside a staging dir: where every new layer
 * (import, commit, diff layer, apply) is built before `commitStagedLayer` publishes it.
 */
export function makeStagedLayerDir(ctx: StoreContext, stage: Staging): { layerDir: string; diffDir: string } {
  const layerDir = stage.sub('layer');
  const diffDir = ctx.layout.diffIn(layerDir);
  fs.mkdirSync(layerDir, 0o700);
  fs.mkdirSync(diffDir, 0o755);
  return { layerDir, diffDir };
}

/**
 * The sweep's undo of an `import` (and of any staged layer published under layers/<hex>): the
 * directory whose row never committed is a leftover.
 */
export const undoImport: IntentUndo<Extract<StagingIntent, { kind: 'import' }>> = (ctx, _stagingPath, intent) => {
  if (layerByChainId(ctx.db, asChainId(intent.chainId)) === undefined) fs.rmSync(intent.target, { recursive: true, force: true });
  // Its blobs: a file renamed into blobs/ whose row never committed.
  for (const digest of intent.blobs ?? []) {
    if (DIGEST_RE.test(digest)) removeUnpublishedBlob(ctx, digest as Digest);
  }
  return false;
};

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** A name may be reused only for the layer it already names. */
export function assertNameFree(ctx: StoreContext, name: string, chainId: string | null): void {
  const current = nameTarget(ctx.db, name);
  if (current === undefined) return;
  if (chainId !== null && layerById(ctx.db, current)?.chainId === chainId) return;
  throw new ShibafuError('NAME_IN_USE', `Cannot name the layer "${name}": that name already points at another layer`, {
    hint: `Pick another name, or move it with \`shibafu layer tag LAYER ${name}\`.`,
  });
}
