/**
 * What `image ls`, `image inspect` and `image history` show, read from the image's rows and its
 * stored config (parsed, never rewritten).
 */
import { allImages, imageLayers, imageNames, type ImageRow } from '../db/image-queries.js';
import { layerById, type LayerRow } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import { shortId, type ChainId, type Digest } from '../ids.js';
import { parseImageConfig, type ImageConfig, type ImageRunConfig } from '../oci/image-config.js';
import type { StoreContext } from '../store/store-context.js';
import { readBlobBytes } from './image-blobs.js';

export interface ImageSummary {
  /** The image ID: its config's digest, as podman's. */
  readonly id: Digest;
  readonly names: readonly string[];
  readonly digest: Digest;
  readonly platform: string;
  /** Uncompressed bytes of its layers. */
  readonly size: number;
  readonly layers: number;
  /** When the image was built (its config's `created`), else when it came into the store. */
  readonly created: string;
}

export interface ImageDetails extends ImageSummary {
  readonly mediaType: string;
  readonly index: Digest | null;
  readonly loaded: string;
  readonly config: ImageRunConfig;
  readonly author: string | undefined;
  readonly rootfs: readonly { readonly diffId: string; readonly chainId: ChainId; readonly blob: Digest | null; readonly size: number }[];
}

export interface HistoryLine {
  readonly created: string | undefined;
  readonly createdBy: string | undefined;
  readonly comment: string | undefined;
  /** The layer the step made (null for an empty step): its diffId and size. */
  readonly layer: { readonly diffId: string; readonly size: number } | null;
}

/**
 * Every image, newest first.
 *
 * @example
 * listImages(ctx).map((i) => i.names)
 */
export function listImages(ctx: StoreContext): ImageSummary[] {
  return ctx.db.read(() => allImages(ctx.db).map((row) => summary(ctx, row, imageConfigOf(ctx, row))));
}

/** One image in full. */
export function inspectImage(ctx: StoreContext, row: ImageRow): ImageDetails {
  return ctx.db.read(() => {
    const config = imageConfigOf(ctx, row);
    const layers = layersOf(ctx, row);
    return {
      ...summary(ctx, row, config),
      mediaType: row.mediaType,
      index: row.indexDigest,
      loaded: row.created,
      config: config.run,
      author: config.author,
      rootfs: layers.map(({ layer, blob }) => ({ diffId: layer.diffId as string, chainId: layer.chainId as ChainId, blob, size: layer.size })),
    };
  });
}

/** The build steps, newest first (as `podman history`), each with the layer it made. */
export function imageHistory(ctx: StoreContext, row: ImageRow): HistoryLine[] {
  return ctx.db.read(() => {
    const config = imageConfigOf(ctx, row);
    const layers = layersOf(ctx, row);
    let next = 0;
    const steps = config.history.length > 0 ? config.history : layers.map(() => ({ created: undefined, createdBy: undefined, comment: undefined, emptyLayer: false }));
    const lines = steps.map((h): HistoryLine => {
      const layer = h.emptyLayer ? undefined : layers[next++]?.layer;
      return { created: h.created, createdBy: h.createdBy, comment: h.comment, layer: layer === undefined ? null : { diffId: layer.diffId as string, size: layer.size } };
    });
    return lines.reverse();
  });
}

/** The image's config, parsed from its stored blob. */
export function imageConfigOf(ctx: StoreContext, row: ImageRow): ImageConfig {
  return parseImageConfig(readBlobBytes(ctx, row.configDigest), `the config of image ${shortId(row.configDigest)}`);
}

/** The image's layers, bottom first, with the blob of each the store keeps for it. */
export function layersOf(ctx: StoreContext, row: ImageRow): { layer: LayerRow; blob: Digest | null }[] {
  return imageLayers(ctx.db, row.id).map((l) => {
    const layer = layerById(ctx.db, l.layerId);
    if (layer === undefined) throw new ShibafuError('STORE_CORRUPT', `Cannot read image ${shortId(row.configDigest)}: its layer #${l.layerId} is missing`);
    return { layer, blob: l.blobDigest };
  });
}

function summary(ctx: StoreContext, row: ImageRow, config: ImageConfig): ImageSummary {
  return {
    id: row.configDigest, names: imageNames(ctx.db, row.id), digest: row.manifestDigest, platform: row.platform, size: row.size,
    layers: config.diffIds.length, created: config.created ?? row.created,
  };
}
