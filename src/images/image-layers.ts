/**
 * An image's layers into the store, bottom first: each is the store's layer for its chainId,
 * unpacked from the blob the manifest names unless the store has it already (and that blob, when
 * it keeps compressed ones). Every layer must unpack to the diffId the config names: the config
 * is what the image's ID is the digest of, and what a registry or an archive could lie about.
 * Shared by `image load` and `image pull`.
 */
import type { Readable } from 'node:stream';
import { blobByDigest } from '../db/blob-queries.js';
import { layerByChainId, namesOf, type LayerRow } from '../db/layer-queries.js';
import type { ImageLayerRow } from '../db/image-queries.js';
import { ShibafuError } from '../errors.js';
import { chainIdOf, shortId, type ChainId, type DiffId } from '../ids.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { ImageConfig } from '../oci/image-config.js';
import type { ImageManifest } from '../oci/image-manifest.js';
import { layerCompression } from '../oci/media-types.js';
import { importTar } from '../store/layer-import.js';
import { removeLayer } from '../store/layer-remove.js';
import type { StoreContext } from '../store/store-context.js';
import type { ImportProgress } from '../store/layer-import.js';

export interface LayerProgress {
  readonly index: number;
  readonly count: number;
  readonly digest: string;
  /** `stored`: the store had it; `unpacking`: bytes are flowing; `done`: unpacked and verified. */
  readonly state: 'stored' | 'unpacking' | 'done';
  readonly progress?: ImportProgress;
}

export interface UnpackedLayers {
  readonly layers: readonly ImageLayerRow[];
  /** The top layer (the image's rootfs); null for an image without layers. */
  readonly top: LayerRow | null;
  /** Uncompressed bytes of all layers. */
  readonly size: number;
  /** Layers this call added to the store (removed again by `discardUnpacked` when the image is not recorded). */
  readonly added: readonly LayerRow[];
}

/**
 * The store's layer for `chainId` when it needs no unpack: stored, with the blob the manifest
 * names kept too when it is one to keep (a compressed one; a plain layer's blob is its tar, which
 * the store reproduces from tar-split). `keepsBlob` says whether `d` is such a blob.
 */
export function storedImageLayer(ctx: StoreContext, chainId: ChainId, d: Descriptor, diffId: DiffId, where: string): { layer: LayerRow | undefined; keepsBlob: boolean } {
  const keepsBlob = layerCompression(d.mediaType, where) !== 'none' && d.digest !== diffId;
  const layer = ctx.db.read(() => {
    const stored = layerByChainId(ctx.db, chainId);
    return stored !== undefined && (!keepsBlob || blobByDigest(ctx.db, d.digest) !== undefined) ? stored : undefined;
  });
  return { layer, keepsBlob };
}

/**
 * Unpacks what the store lacks. On failure the layers this call added are removed again.
 *
 * @example
 * const unpacked = await unpackImageLayers(ctx, { manifest, config, open: (d) => source.openBlob(d, 'layer') });
 */
export async function unpackImageLayers(ctx: StoreContext, options: {
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
  readonly where: string;
  readonly open: (d: Descriptor, index: number) => Readable;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: LayerProgress) => void;
}): Promise<UnpackedLayers> {
  const { manifest, config, where } = options;
  if (manifest.layers.length !== config.diffIds.length) {
    throw new ShibafuError('MANIFEST_INVALID', `Cannot load ${where}: its manifest names ${manifest.layers.length} layers and its config ${config.diffIds.length} diffIds`, {
      hint: 'The image is damaged; nothing was stored.',
    });
  }
  const added: LayerRow[] = [];
  const rows: ImageLayerRow[] = [];
  let parent: LayerRow | null = null;
  let size = 0;
  const count = manifest.layers.length;
  try {
    for (const [i, d] of manifest.layers.entries()) {
      const diffId = config.diffIds[i] as DiffId;
      const chainId: ChainId = chainIdOf(parent?.chainId ?? null, diffId);
      // A compressed blob is kept as it came, so that the image saves and pushes with the digests it has.
      const { layer: stored, keepsBlob } = storedImageLayer(ctx, chainId, d, diffId, `${where}, layer ${i}`);
      let layer: LayerRow;
      if (stored !== undefined) {
        layer = stored;
        options.onProgress?.({ index: i, count, digest: d.digest, state: 'stored' });
      } else {
        options.onProgress?.({ index: i, count, digest: d.digest, state: 'unpacking' });
        // A stored layer without this blob is unpacked again all the same: the blob is kept only
        // once its bytes are proven to unpack to the layer (commitStagedLayer attaches it).
        const result = await importTar(ctx, options.open(d, i), {
          name: null, parent, expectedDigest: d.digest,
          ...(options.signal !== undefined ? { signal: options.signal } : {}),
          ...(options.onProgress !== undefined ? { onProgress: (p: ImportProgress) => options.onProgress?.({ index: i, count, digest: d.digest, state: 'unpacking', progress: p }) } : {}),
        });
        if (!result.existed) added.push(result.layer);
        layer = result.layer;
        if (layer.diffId !== diffId) {
          throw new ShibafuError('MANIFEST_INVALID', `Cannot load ${where}: layer ${i} (${d.digest}) unpacks to ${layer.diffId}, but the image's config says ${diffId}`, {
            hint: 'The image is damaged or its config lies about its layers; nothing was stored.',
            details: { layer: i, digest: d.digest, diffId: layer.diffId, expected: diffId },
          });
        }
        options.onProgress?.({ index: i, count, digest: d.digest, state: 'done' });
      }
      rows.push({ position: i, layerId: layer.id, blobDigest: keepsBlob ? d.digest : null });
      size += layer.size;
      parent = layer;
    }
  } catch (err) {
    discardUnpacked(ctx, added);
    throw err;
  }
  return { layers: rows, top: parent, size, added };
}

/**
 * Removes layers an unpack added, top first, while nothing else uses them (another process may
 * have named one, or stacked on it, meanwhile: then it stays).
 */
export function discardUnpacked(ctx: StoreContext, added: readonly LayerRow[]): void {
  for (const layer of [...added].reverse()) {
    try {
      if (ctx.db.read(() => namesOf(ctx.db, layer.id)).length > 0) continue;
      removeLayer(ctx, layer.chainId ?? shortId(layer.diffId!), layer);
    } catch {
      // In use by someone else now: it stays, as a layer they made would.
    }
  }
}
