/**
 * Typed queries over images: `images` (a manifest and its config, by digest), `image_names` (a
 * reference names one image) and `image_layers` (the image's layers, bottom first, with the blob
 * of each the manifest names when the store keeps it). Only this folder speaks SQL.
 */
import type { Digest } from '../ids.js';
import type { Db } from './db.js';

export interface ImageRow {
  readonly id: number;
  readonly manifestDigest: Digest;
  readonly mediaType: string;
  readonly configDigest: Digest;
  readonly indexDigest: Digest | null;
  readonly platform: string;
  readonly size: number;
  readonly created: string;
}

export interface ImageLayerRow {
  readonly position: number;
  readonly layerId: number;
  readonly blobDigest: Digest | null;
}

interface RawImage {
  id: number; manifest_digest: string; media_type: string; config_digest: string; index_digest: string | null; platform: string; size: number; created: string;
}

const COLUMNS = 'id, manifest_digest, media_type, config_digest, index_digest, platform, size, created';

function toImage(r: RawImage): ImageRow {
  return {
    id: r.id, manifestDigest: r.manifest_digest as Digest, mediaType: r.media_type, configDigest: r.config_digest as Digest,
    indexDigest: r.index_digest as Digest | null, platform: r.platform, size: r.size, created: r.created,
  };
}

export type NewImage = Omit<ImageRow, 'id'>;

/** Inserts an image, or returns the id of the one with that manifest already (the same image). */
export function insertImage(db: Db, i: NewImage): { id: number; existed: boolean } {
  const found = db.stmt('SELECT id FROM images WHERE manifest_digest = ?').get(i.manifestDigest) as { id: number } | undefined;
  if (found !== undefined) return { id: found.id, existed: true };
  const r = db.stmt(`INSERT INTO images (manifest_digest, media_type, config_digest, index_digest, platform, size, created) VALUES (?, ?, ?, ?, ?, ?, ?)`)
    .run(i.manifestDigest, i.mediaType, i.configDigest, i.indexDigest, i.platform, i.size, i.created);
  return { id: Number(r.lastInsertRowid), existed: false };
}

export function insertImageLayers(db: Db, imageId: number, layers: readonly ImageLayerRow[]): void {
  const stmt = db.stmt('INSERT INTO image_layers (image_id, position, layer_id, blob_digest) VALUES (?, ?, ?, ?)');
  for (const l of layers) stmt.run(imageId, l.position, l.layerId, l.blobDigest);
}

/** Gives an image that existed the blob of a layer it lacked (a later load kept that blob). */
export function setImageLayerBlob(db: Db, imageId: number, position: number, blobDigest: Digest): void {
  db.stmt('UPDATE image_layers SET blob_digest = ? WHERE image_id = ? AND position = ? AND blob_digest IS NULL').run(blobDigest, imageId, position);
}

export function imageById(db: Db, id: number): ImageRow | undefined {
  const r = db.stmt(`SELECT ${COLUMNS} FROM images WHERE id = ?`).get(id) as RawImage | undefined;
  return r === undefined ? undefined : toImage(r);
}

export function imageByManifest(db: Db, digest: Digest): ImageRow | undefined {
  const r = db.stmt(`SELECT ${COLUMNS} FROM images WHERE manifest_digest = ?`).get(digest) as RawImage | undefined;
  return r === undefined ? undefined : toImage(r);
}

export function imageByName(db: Db, name: string): ImageRow | undefined {
  const r = db.stmt(`SELECT ${COLUMNS.split(', ').map((c) => `i.${c}`).join(', ')} FROM images i JOIN image_names n ON n.image_id = i.id WHERE n.name = ?`)
    .get(name) as RawImage | undefined;
  return r === undefined ? undefined : toImage(r);
}

/** Images whose config or manifest digest starts with `hexPrefix` (an image ID as `image ls` shows it). */
export function imagesByPrefix(db: Db, hexPrefix: string, limit = 3): ImageRow[] {
  const like = `sha256:${hexPrefix}%`;
  return (db.stmt(`SELECT ${COLUMNS} FROM images WHERE config_digest LIKE ? OR manifest_digest LIKE ? ORDER BY id LIMIT ?`)
    .all(like, like, limit) as RawImage[]).map(toImage);
}

export function allImages(db: Db): ImageRow[] {
  return (db.stmt(`SELECT ${COLUMNS} FROM images ORDER BY created DESC, id DESC`).all() as RawImage[]).map(toImage);
}

export function imageLayers(db: Db, imageId: number): ImageLayerRow[] {
  return (db.stmt('SELECT position, layer_id AS layerId, blob_digest AS blobDigest FROM image_layers WHERE image_id = ? ORDER BY position')
    .all(imageId) as { position: number; layerId: number; blobDigest: string | null }[]).map((r) => ({ ...r, blobDigest: r.blobDigest as Digest | null }));
}

export function imageNames(db: Db, imageId: number): string[] {
  return (db.stmt('SELECT name FROM image_names WHERE image_id = ? ORDER BY name').all(imageId) as { name: string }[]).map((r) => r.name);
}

/** Points `name` at the image (taking it from another, which keeps its other names or none). */
export function upsertImageName(db: Db, name: string, imageId: number, created: string): void {
  db.stmt('INSERT INTO image_names (name, image_id, created) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, created = excluded.created')
    .run(name, imageId, created);
}

export function deleteImageName(db: Db, name: string): boolean {
  return db.stmt('DELETE FROM image_names WHERE name = ?').run(name).changes > 0;
}

/** Deletes the image's rows (names and layer links go with it). */
export function deleteImageRow(db: Db, imageId: number): void {
  db.stmt('DELETE FROM images WHERE id = ?').run(imageId);
}

/** Containers made from the image: id and name. */
export function containersOfImage(db: Db, imageId: number): { id: string; name: string }[] {
  return db.stmt('SELECT id, name FROM containers WHERE image_id = ? ORDER BY created').all(imageId) as { id: string; name: string }[];
}

/** Whether any image other than `exceptImageId` names the blob (as manifest, config, index or layer blob). */
export function blobUsedByImages(db: Db, digest: Digest, exceptImageId: number): boolean {
  return db.stmt(`
    SELECT 1 FROM images WHERE id != :except AND (manifest_digest = :d OR config_digest = :d OR index_digest = :d)
    UNION ALL SELECT 1 FROM image_layers WHERE image_id != :except AND blob_digest = :d LIMIT 1`).get({ d: digest, except: exceptImageId }) !== undefined;
}
