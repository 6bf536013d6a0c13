/**
 * Typed queries over the content store's tables: `blobs` (one row per stored blob) and
 * `layer_blobs` (which layer a blob is a compressed form of). Only this folder speaks SQL.
 */
import type { Digest } from '../ids.js';
import type { Db } from './db.js';

export interface BlobRow {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string | null;
  readonly created: string;
}

/** The compressions a layer blob is kept in (a plain tar is reproduced from tar-split instead). */
export type BlobCompression = 'gzip' | 'zstd';

export interface LayerBlobRow {
  readonly layerId: number;
  readonly digest: Digest;
  readonly size: number;
  readonly compression: BlobCompression;
  readonly mediaType: string;
}

interface RawBlob { digest: string; size: number; media_type: string | null; created: string }

function toBlob(r: RawBlob): BlobRow {
  return { digest: r.digest as Digest, size: r.size, mediaType: r.media_type, created: r.created };
}

export function blobByDigest(db: Db, digest: Digest): BlobRow | undefined {
  const r = db.stmt('SELECT digest, size, media_type, created FROM blobs WHERE digest = ?').get(digest) as RawBlob | undefined;
  return r === undefined ? undefined : toBlob(r);
}

/** Inserts a blob row; a row already there (the same bytes, by digest) is kept as it is. */
export function insertBlob(db: Db, b: BlobRow): void {
  db.stmt('INSERT INTO blobs (digest, size, media_type, created) VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING')
    .run(b.digest, b.size, b.mediaType, b.created);
}

export function deleteBlobRow(db: Db, digest: Digest): boolean {
  return db.stmt('DELETE FROM blobs WHERE digest = ?').run(digest).changes > 0;
}

/** Every blob, by digest (from `after`, exclusive, for paging through a large store). */
export function blobsAfter(db: Db, after: Digest | null, limit: number): BlobRow[] {
  const rows = db.stmt('SELECT digest, size, media_type, created FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?')
    .all(after ?? '', limit) as RawBlob[];
  return rows.map(toBlob);
}

/** Records that `digest` is a compressed form of the layer (idempotent). */
export function linkLayerBlob(db: Db, l: { layerId: number; digest: Digest; compression: BlobCompression; mediaType: string }): void {
  db.stmt('INSERT INTO layer_blobs (layer_id, digest, compression, media_type) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
    .run(l.layerId, l.digest, l.compression, l.mediaType);
}

/** A layer's blobs, with their sizes, in a stable order. */
export function blobsOfLayer(db: Db, layerId: number): LayerBlobRow[] {
  return db.stmt(`SELECT lb.layer_id AS layerId, lb.digest, b.size, lb.compression, lb.media_type AS mediaType
    FROM layer_blobs lb JOIN blobs b ON b.digest = lb.digest WHERE lb.layer_id = ? ORDER BY lb.compression, lb.digest`)
    .all(layerId) as LayerBlobRow[];
}

/** Removes a layer's blob links; returns the digests that no layer links to any more. */
export function unlinkLayerBlobs(db: Db, layerId: number): Digest[] {
  const digests = (db.stmt('SELECT digest FROM layer_blobs WHERE layer_id = ?').all(layerId) as { digest: Digest }[]).map((r) => r.digest);
  db.stmt('DELETE FROM layer_blobs WHERE layer_id = ?').run(layerId);
  // A blob an image names stays with the image (the image pins the layer first, but a blob may be
  // another image's too).
  return digests.filter((d) => db.stmt('SELECT 1 FROM layer_blobs WHERE digest = ? UNION ALL SELECT 1 FROM image_layers WHERE blob_digest = ? LIMIT 1').get(d, d) === undefined);
}

/** How many layers have this blob. */
export function layersWithBlob(db: Db, digest: Digest): number {
  return (db.stmt('SELECT count(*) AS n FROM layer_blobs WHERE digest = ?').get(digest) as { n: number }).n;
}

/**
 * The layer on `parentId` (NULL: a root layer) made from the blob `digest`, if any: an import of
 * that blob on that parent would give that very layer (same bytes, same diffId, same chainId).
 */
export function layerFromBlob(db: Db, digest: Digest, parentId: number | null): number | undefined {
  const r = db.stmt(`SELECT l.id FROM layer_blobs lb JOIN layers l ON l.id = lb.layer_id
    WHERE lb.digest = ? AND l.parent_id IS ? AND l.state = 'sealed' LIMIT 1`).get(digest, parentId) as { id: number } | undefined;
  return r?.id;
}

/** Whether some layer on `parentId` has a blob of exactly `size` bytes (the cheap pre-check of the skip-unpack). */
export function blobSizeOnParent(db: Db, size: number, parentId: number | null): boolean {
  return db.stmt(`SELECT 1 FROM layer_blobs lb JOIN blobs b ON b.digest = lb.digest JOIN layers l ON l.id = lb.layer_id
    WHERE b.size = ? AND l.parent_id IS ? LIMIT 1`).get(size, parentId) !== undefined;
}
