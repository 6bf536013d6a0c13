/**
 * Where a blob becomes visible or goes away: always inside a write transaction of the store's
 * database, so that one rule holds for every process on the root:
 *
 *   under the write lock, a file in blobs/sha256/ without a row in `blobs` is garbage.
 *
 * Publishing inserts the row, then renames the verified file into place (the last effect of the
 * transaction: if the rename fails, the row is rolled back). Two ingests of one digest are
 * serialized by the lock: the second finds the row and the file, keeps them and drops its own
 * copy (pnpm's store does the same with O_EXCL, then verify). A file without a row (left by a
 * process killed between its rename and its commit) is simply replaced: the new one was verified.
 *
 * Removal moves the file to blobs/trash/ and deletes the row in one transaction; the file is
 * unlinked after the commit. A removal killed before its commit leaves a trashed file whose row
 * still exists: `sweepTrash` (at every open; one readdir when empty) moves it back.
 */
import * as fs from 'node:fs';
import { blobByDigest, deleteBlobRow, insertBlob, type BlobRow } from '../db/blob-queries.js';
import type { Db } from '../db/db.js';
import { errnoCode, fromSystemError } from '../errors.js';
import type { Digest } from '../ids.js';
import type { StoreLayout } from '../store/layout.js';
import type { LockPort } from '../store/ports.js';
import { fsyncDir } from '../sys/sync.js';

/** What the content store works with (a StoreContext is one). */
export interface ContentContext {
  readonly db: Db;
  readonly layout: StoreLayout;
  /** flock(2) for the ingest dirs. */
  readonly ports: LockPort;
  /** An ISO-8601 timestamp (injected so tests can fix time). */
  readonly now: () => string;
}

/** A blob's bytes flushed and verified in a file of their own, ready to be published. */
export interface SealedBlob {
  readonly digest: Digest;
  readonly size: number;
  /** The file holding the bytes (in an ingest dir or a staging dir of the same file system). */
  readonly path: string;
}

export interface PublishedBlob {
  readonly blob: BlobRow;
  /** True when the store already held this digest: its file was kept and ours dropped. */
  readonly existed: boolean;
}

/**
 * Makes a sealed blob visible. Must run inside `ctx.db.immediate`.
 *
 * @example
 * ctx.db.immediate(() => publishBlob(ctx, sealed, 'application/vnd.oci.image.layer.v1.tar+gzip'));
 */
export function publishBlob(ctx: ContentContext, sealed: SealedBlob, mediaType: string | null): PublishedBlob {
  const file = ctx.layout.blob(sealed.digest);
  const existing = blobByDigest(ctx.db, sealed.digest);
  if (existing !== undefined && fs.existsSync(file)) {
    fs.rmSync(sealed.path, { force: true });
    return { blob: existing, existed: true };
  }
  const blob = existing ?? { digest: sealed.digest, size: sealed.size, mediaType, created: ctx.now() };
  if (existing === undefined) insertBlob(ctx.db, blob);
  try {
    fs.renameSync(sealed.path, file);
    fsyncDir(ctx.layout.blobs);
  } catch (err) {
    throw fromSystemError(err, `store blob ${sealed.digest}`);
  }
  return { blob, existed: false };
}

/**
 * Puts a blob file published by a transaction that then failed back where it came from, so the
 * caller's cleanup removes it (a best effort: a file left behind is garbage by the rule above).
 */
export function unpublishBlob(ctx: ContentContext, sealed: SealedBlob): void {
  // Still where it was: the transaction failed before its rename (the common case, no lock needed).
  if (fs.existsSync(sealed.path)) return;
  try {
    ctx.db.immediate(() => {
      if (blobByDigest(ctx.db, sealed.digest) === undefined && !fs.existsSync(sealed.path)) {
        fs.renameSync(ctx.layout.blob(sealed.digest), sealed.path);
      }
    });
  } catch {
    // Left for the next publish of this digest, which replaces a file without a row.
  }
}

/**
 * Removes a blob's row and moves its file to the trash. Must run inside `ctx.db.immediate`;
 * call `purgeTrashed` once it committed. False when there was no such blob.
 *
 * @example
 * const gone = ctx.db.immediate(() => dropBlob(ctx, digest)); if (gone) purgeTrashed(ctx, [digest]);
 */
export function dropBlob(ctx: ContentContext, digest: Digest): boolean {
  if (blobByDigest(ctx.db, digest) === undefined) return false;
  try {
    fs.renameSync(ctx.layout.blob(digest), ctx.layout.trashedBlob(digest));
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw fromSystemError(err, `remove blob ${digest}`);
  }
  deleteBlobRow(ctx.db, digest);
  return true;
}

/** Unlinks blobs whose removal committed. Never throws: the next sweep finds what is left. */
export function purgeTrashed(ctx: ContentContext, digests: readonly Digest[]): void {
  for (const digest of digests) {
    try {
      fs.unlinkSync(ctx.layout.trashedBlob(digest));
    } catch {
      // Gone already, or left for sweepTrash.
    }
  }
}

/**
 * Deletes a blob file a killed transaction published without its row. Must run inside
 * `ctx.db.immediate` (recovery.ts: an import's intent names the blob it was publishing).
 */
export function removeUnpublishedBlob(ctx: ContentContext, digest: Digest): void {
  if (blobByDigest(ctx.db, digest) === undefined) fs.rmSync(ctx.layout.blob(digest), { force: true });
}

/**
 * Finishes or rolls back removals that were interrupted: a trashed blob whose row exists goes
 * back, any other is deleted. Returns the digests it restored and removed.
 *
 * @example
 * sweepTrash(ctx) // { restored: [], removed: [] } on a clean store: one readdir
 */
export function sweepTrash(ctx: ContentContext): { restored: Digest[]; removed: Digest[] } {
  const out = { restored: [] as Digest[], removed: [] as Digest[] };
  let names: string[];
  try {
    names = fs.readdirSync(ctx.layout.blobTrash);
  } catch {
    return out;
  }
  if (names.length === 0) return out;
  ctx.db.immediate(() => {
    for (const name of names) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const digest = `sha256:${name}` as Digest;
      const trashed = ctx.layout.trashedBlob(digest);
      if (!fs.existsSync(trashed)) continue;
      if (blobByDigest(ctx.db, digest) !== undefined && !fs.existsSync(ctx.layout.blob(digest))) {
        fs.renameSync(trashed, ctx.layout.blob(digest));
        out.restored.push(digest);
      } else {
        fs.rmSync(trashed, { force: true });
        out.removed.push(digest);
      }
    }
  });
  return out;
}
