/**
 * A compressed export of a layer that kept its archive as a blob: the blob itself, byte for byte
 * (the digest a registry lists for the layer), instead of a fresh compression of the tar. gzip and
 * zstd output depends on the tool, its version and its level, so only the stored bytes give the
 * original digest back. The blob is verified as it streams (content/blob-reader.ts).
 */
import { blobsOfLayer, type LayerBlobRow } from '../db/blob-queries.js';
import type { LayerRow } from '../db/layer-queries.js';
import type { DiffId } from '../ids.js';
import { readBlob } from '../content/blob-reader.js';
import type { Compression } from '../tar/layer-source.js';
import { digestedExport } from './digested-export.js';
import type { ExportOptions, LayerExport } from './layer-export.js';
import type { StoreContext } from './store-context.js';

/**
 * The layer's stored blob of `compression`, or null when it has none (then the tar is compressed
 * as it streams).
 *
 * @example
 * const blob = storedBlobOf(ctx, layer, 'gzip');
 */
export function storedBlobOf(ctx: StoreContext, layer: LayerRow, compression: Compression): LayerBlobRow | null {
  if (compression === 'none') return null;
  const blobs = ctx.db.read(() => blobsOfLayer(ctx.db, layer.id));
  return blobs.find((b) => b.compression === compression) ?? null;
}

/**
 * Streams a stored blob as the layer's export; the chunks throw DIGEST_MISMATCH at the end when
 * the blob's file changed on disk.
 *
 * @example
 * const exp = exportStoredBlob(ctx, layer, blob, {}); for await (const c of exp.chunks) out.write(c);
 */
export function exportStoredBlob(ctx: StoreContext, layer: LayerRow, blob: LayerBlobRow, options: ExportOptions): LayerExport {
  const chunks = readBlob(ctx, blob.digest, options.signal === undefined ? {} : { signal: options.signal });
  return digestedExport(chunks, (digest, size) => ({
    chainId: layer.chainId as string, diffId: layer.diffId as DiffId, tarSize: layer.size, compression: blob.compression,
    mediaType: blob.mediaType, digest, size, source: 'blob',
  }), (size) => options.onProgress?.(size, 'write'));
}
