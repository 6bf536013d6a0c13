/**
 * ApplyDiffLayer (`layer apply DIFF --onto BASE NEW`): the same changeset on another base. The
 * layer's tar, as it exports, is applied onto a snapshot prepared on BASE, in the driver's format,
 * with a tar-split record of it, and hashed in the same pass: it must give the source's diffId
 * before anything is committed. The new layer has the same diffId, exports the same bytes, and a
 * new chainId (OCI: chainId(BASE + DIFF) = sha256(chainId(BASE) + " " + diffId(DIFF))).
 *
 * Applied, not copied: what the layer's whiteouts hide depends on the base (a whiteout of a path
 * the old base did not show was never written), so its overlay dir is not its changeset on
 * another base; and the tar keeps a sparse file's holes, which a copy may fill.
 */
import type { LayerRow } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import { commitStagedLayer, discardStagedLayer, makeStagedLayerDir, syncDir, type CommitResult, type StagedLayerDirs } from './layer-commit.js';
import { layerTar } from './layer-export.js';
import { Staging } from './staging.js';
import type { StoreContext } from './store-context.js';
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
    // The new layer's export is that tar, whatever the base: it keeps a tar-split record of it.
    const got = (await applyTarToTree(ctx, staged, layerTar(ctx, diff, options.signal), {
      tarSplit: ctx.layout.tarSplitIn(layerDir), ...(options.signal !== undefined ? { signal: options.signal } : {}),
    })).diffId;
    syncDir(ctx, diffDir);
    if (got !== diff.diffId) {
      throw new ShibafuError('DIGEST_MISMATCH', `Cannot apply layer ${diff.chainId}: its copy hashes to ${got}, not to its diffId ${diff.diffId}`, {
        hint: 'The layer\'s files were changed on disk behind shibafu. Re-create it from its source.',
        details: { expected: diff.diffId, actual: got },
      });
    }
    return commitStagedLayer(ctx, stage, {
      dir: layerDir, snapshot: staged.snapshot, diffId: diff.diffId, parent: onto, size: diff.size, files: diff.files,
      blobDigest: diff.blobDigest, blobSize: diff.blobSize, mediaType: diff.mediaType, source: 'diff', tarSplit: true,
    }, options.name);
  } catch (err) {
    discardStagedLayer(ctx, staged, stage);
    throw err;
  } finally {
    stage.dispose();
  }
}
