/**
 * Where an image becomes visible: its manifest, config and index published as blobs (byte for
 * byte, as they came) with its rows and names, in one write transaction. Its layers are already
 * the store's (image-layers.ts); the image's rows pin them from then on.
 */
import { publishBlob, unpublishBlob } from '../content/blob-publish.js';
import { BlobWriter } from '../content/blob-ingest.js';
import type { SealedBlob } from '../content/blob-publish.js';
import {
  imageById, insertImage, insertImageLayers, setImageLayerBlob, upsertImageName, imageLayers, type ImageLayerRow, type ImageRow,
} from '../db/image-queries.js';
import { layerById } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { Staging, type StagingIntent } from '../store/staging.js';
import type { StoreContext } from '../store/store-context.js';

/** A metadata blob to keep: its bytes (checked against `descriptor` already) and media type. */
export interface MetadataBlob {
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
}

export interface NewImageRecord {
  readonly manifest: MetadataBlob;
  readonly config: MetadataBlob;
  readonly index: MetadataBlob | null;
  readonly platform: string;
  readonly size: number;
  readonly layers: readonly ImageLayerRow[];
  /** Normalized references to point at the image (moved from any image they named). */
  readonly names: readonly string[];
}

export interface RecordedImage {
  readonly image: ImageRow;
  /** True when the store had this manifest already (the names were added to it). */
  readonly existed: boolean;
}

/**
 * Records the image. IMAGE_NOT_FOUND-free by construction: every layer row is checked to exist
 * inside the transaction (a concurrent `layer rm` of an unpinned layer loses to this).
 *
 * @example
 * await recordImage(ctx, { manifest, config, index: null, platform: 'linux/amd64', size, layers, names: ['docker.io/library/busybox:latest'] });
 */
export async function recordImage(ctx: StoreContext, record: NewImageRecord): Promise<RecordedImage> {
  const stage = Staging.create(ctx.layout, 'image', ctx.ports);
  const sealed: { blob: SealedBlob; mediaType: string }[] = [];
  try {
    const blobs = [record.manifest, record.config, ...(record.index === null ? [] : [record.index])];
    for (const [i, b] of blobs.entries()) {
      const w = BlobWriter.staged(ctx, stage.sub(`blob-${i}`));
      await w.write(b.bytes);
      sealed.push({ blob: w.seal({ digest: b.descriptor.digest, size: b.descriptor.size }), mediaType: b.descriptor.mediaType });
    }
    stage.setIntent<StagingIntent>({ kind: 'image', blobs: sealed.map((s) => s.blob.digest) });
    try {
      return ctx.db.immediate((): RecordedImage => {
        for (const l of record.layers) {
          if (layerById(ctx.db, l.layerId) === undefined) {
            throw new ShibafuError('LAYER_NOT_FOUND', 'Cannot record the image: one of its layers was removed meanwhile', { hint: 'Load or pull the image again.' });
          }
        }
        for (const s of sealed) publishBlob(ctx, s.blob, s.mediaType);
        const { id, existed } = insertImage(ctx.db, {
          manifestDigest: record.manifest.descriptor.digest, mediaType: record.manifest.descriptor.mediaType,
          configDigest: record.config.descriptor.digest, indexDigest: record.index?.descriptor.digest ?? null,
          platform: record.platform, size: record.size, created: ctx.now(),
        });
        if (!existed) insertImageLayers(ctx.db, id, record.layers);
        else {
          // The same manifest again: it may bring a layer blob the first load could not keep.
          const have = imageLayers(ctx.db, id);
          for (const l of record.layers) if (l.blobDigest !== null && have[l.position]?.blobDigest === null) setImageLayerBlob(ctx.db, id, l.position, l.blobDigest);
        }
        for (const name of record.names) upsertImageName(ctx.db, name, id, ctx.now());
        return { image: imageById(ctx.db, id) as ImageRow, existed };
      });
    } catch (err) {
      for (const s of sealed) unpublishBlob(ctx, s.blob);
      throw err;
    }
  } finally {
    stage.dispose();
  }
}
