/**
 * ApplyDiffLayer (`layer apply DIFF --onto BASE NEW`): the same changeset on another base. The
 * layer's diff dir is copied into a staging dir (reflinks where the file system has them, else
 * copy_file_range), with its tar-split record when it has one, and the copy is verified against
 * the source's diffId before it is committed: the new layer has the same diffId and a new chainId
 * (OCI: chainId(BASE + DIFF) = sha256(chainId(BASE) + " " + diffId(DIFF))).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { LayerRow } from '../db/layer-queries.js';
import { copyOverlayDir } from '../changes/copy-overlay-dir.js';
import { nodeTreeFs } from '../changes/tree-fs.js';
import { ShibafuError } from '../errors.js';
import type { DiffId } from '../ids.js';
import { commitStagedLayer, discardStagedLayer, makeStagedLayerDir, syncDir, type CommitResult, type StagedLayerDirs } from './layer-commit.js';
import { layerTar, replayTarSplit } from './layer-export.js';
import { hashLayerDir } from './layer-hash.js';
import { Staging } from './staging.js';
import type { StoreContext } from './store-context.js';
import { layerDiffDir } from './layer-files.js';
import { applyTarToTree } from './dir-layer-write.js';

export interface ApplyLayerOptions {
  /** The layer whose own changeset (not its ancestors') is applied. */
  readonly diff: LayerRow;
  /** The new parent. */
  readonly onto: LayerRow;
  readonly name: string | null;
  readonly signal?: AbortSignal;
}

/**
 * Re-applies `diff`'s changeset on top of `onto`.
 *
 * @example
 * await applyLayer(ctx, { diff: patch, onto: newBase, name: 'app-on-new-base' });
 */
export async function applyLayer(ctx: StoreContext, options: ApplyLayerOptions): Promise<CommitResult> {
  const { diff, onto } = options;
  if (diff.chainId === null || diff.diffId === null || onto.chainId === null) {
    throw new ShibafuError('LAYER_OPEN', 'Cannot apply a layer: both the layer and the base must be sealed', { hint: 'shibafu layer seal NAME' });
  }
  const stage = Staging.create(ctx.layout, 'import', ctx.ports);
  let staged: StagedLayerDirs | null = null;
  try {
    staged = makeStagedLayerDir(ctx, stage, onto);
    const { layerDir, diffDir } = staged;
    let got: DiffId;
    let tarSplit = diff.tarSplit;
    if (staged.format === 'dir') {
      // A whole tree on the new base: the layer's tar, as it exports, applied onto it, with a
      // tar-split record of it (the new layer's export is that tar, whatever the base).
      got = (await applyTarToTree(ctx, diffDir, layerTar(ctx, diff, options.signal), { tarSplit: ctx.layout.tarSplitIn(layerDir), ...(options.signal !== undefined ? { signal: options.signal } : {}) })).diffId;
      tarSplit = true;
      syncDir(ctx, diffDir);
    } else {
      if (diff.tarSplit) fs.copyFileSync(ctx.layout.tarSplitIn(ctx.layout.layerDir(diff.chainId)), ctx.layout.tarSplitIn(layerDir));
      copyOverlayDir(nodeTreeFs(ctx.ports), ctx.ports, layerDiffDir(ctx, diff.chainId), diffDir, options.signal !== undefined ? { signal: options.signal } : {});
      ctx.ports.syncfs(stage.fd);
      got = diff.tarSplit
        ? await hashReplay(ctx.layout.tarSplitIn(layerDir), diffDir, options.signal)
        : hashLayerDir(diffDir, ctx.ports, options.signal).diffId;
    }
    if (got !== diff.diffId) {
      throw new ShibafuError('DIGEST_MISMATCH', `Cannot apply layer ${diff.chainId}: its copy hashes to ${got}, not to its diffId ${diff.diffId}`, {
        hint: 'The layer\'s files were changed on disk behind shibafu. Re-create it from its source.',
        details: { expected: diff.diffId, actual: got },
      });
    }
    return commitStagedLayer(ctx, stage, {
      dir: layerDir, snapshot: staged.snapshot, diffId: diff.diffId, parent: onto, size: diff.size, files: diff.files,
      blobDigest: diff.blobDigest, blobSize: diff.blobSize, mediaType: diff.mediaType, source: 'diff', tarSplit,
    }, options.name);
  } catch (err) {
    discardStagedLayer(ctx, staged, stage);
    throw err;
  } finally {
    stage.dispose();
  }
}

async function hashReplay(record: string, diffDir: string, signal?: AbortSignal): Promise<DiffId> {
  const hash = createHash('sha256');
  for await (const chunk of replayTarSplit(record, diffDir, signal)) hash.update(chunk);
  return `sha256:${hash.digest('hex')}` as DiffId;
}
