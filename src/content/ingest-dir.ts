/**
 * The dirs of resumable ingests, `blobs/ingest/<sha256(ref)>/`: made and locked for a writer
 * (flock(2) on the dir, dropped by the kernel when the process dies), swept once abandoned. Apart
 * from the writer (blob-ingest.ts) so that the sweep a store runs at every open loads no hashing.
 */
import * as fs from 'node:fs';
import { ShibafuError, errnoCode, fromSystemError } from '../errors.js';
import { digestHex, sha256Digest, type Digest } from '../ids.js';
import { removeUnpublishedBlob, type ContentContext } from './blob-publish.js';
import { stillThere } from '../staging/staging.js';

/** How long an ingest nobody writes to is kept for a resume. */
export const DEFAULT_INGEST_EXPIRY_MS = 24 * 3600 * 1000;
/** Each retry means a sweeper or a finishing writer removed the dir between our open and lock. */
const MAX_OPEN_ATTEMPTS = 8;

/** The ingest dir's name: refs are any string (a digest, "import-<token>"), hashes are safe names. */
export function refKey(ref: string): string {
  return digestHex(sha256Digest(ref));
}

/** Makes, opens and locks an ingest dir; STORE_BUSY when another writer holds it. */
export function lockIngestDir(ctx: ContentContext, dir: string, ref: string): number {
  for (let attempt = 1; ; attempt++) {
    try {
      fs.mkdirSync(dir, 0o700);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw fromSystemError(err, `create the ingest of "${ref}"`);
    }
    let fd: number;
    try {
      fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' && attempt < MAX_OPEN_ATTEMPTS) continue;
      throw fromSystemError(err, `open the ingest of "${ref}"`);
    }
    if (!ctx.ports.tryLock(fd, true)) {
      fs.closeSync(fd);
      throw new ShibafuError('STORE_BUSY', `Cannot write blob ingest "${ref}": another writer has it`, {
        hint: 'Wait for the other download or import of this blob to finish (or fail), then retry.',
      });
    }
    if (stillThere(fd, dir)) return fd;
    fs.closeSync(fd);
    if (attempt >= MAX_OPEN_ATTEMPTS) {
      throw new ShibafuError('STORE_BUSY', `Cannot open blob ingest "${ref}": another process kept removing it`, { hint: 'Retry.' });
    }
  }
}

/** Undoes what a commit killed in its transaction may have left (the dir is locked by the caller). */
export function finishInterruptedCommit(ctx: ContentContext, dir: string): void {
  const marker = ctx.layout.ingestCommitting(dir);
  let digest: string;
  try {
    digest = fs.readFileSync(marker, 'utf8');
  } catch {
    return;
  }
  if (/^sha256:[0-9a-f]{64}$/.test(digest)) ctx.db.immediate(() => removeUnpublishedBlob(ctx, digest as Digest));
  fs.rmSync(marker, { force: true });
}

export interface SweptIngest {
  readonly ref: string;
  readonly bytes: number;
}

/**
 * Removes ingests nobody holds whose last write is older than `expiryMs` (default 24 h), and
 * cleans up after commits that were killed. One readdir when there are none.
 *
 * @example
 * sweepIngests(ctx) // [] on a clean store
 */
export function sweepIngests(ctx: ContentContext, options: { expiryMs?: number; nowMs?: number } = {}): SweptIngest[] {
  let names: string[];
  try {
    names = fs.readdirSync(ctx.layout.blobIngests);
  } catch {
    return [];
  }
  const swept: SweptIngest[] = [];
  const expiry = options.expiryMs ?? DEFAULT_INGEST_EXPIRY_MS;
  const now = options.nowMs ?? Date.now();
  for (const name of names) {
    const dir = ctx.layout.ingestDir(name);
    let fd: number;
    try {
      fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch {
      continue;
    }
    try {
      if (!ctx.ports.tryLock(fd, true) || !stillThere(fd, dir)) continue;
      finishInterruptedCommit(ctx, dir);
      const data = statOrNull(ctx.layout.ingestData(dir));
      const lastWrite = Math.max(data?.mtimeMs ?? 0, fs.fstatSync(fd).mtimeMs);
      if (now - lastWrite < expiry) continue;
      let ref = name;
      try { ref = fs.readFileSync(ctx.layout.ingestRef(dir), 'utf8'); } catch { /* named by its key */ }
      fs.rmSync(dir, { recursive: true, force: true });
      swept.push({ ref, bytes: data?.size ?? 0 });
    } finally {
      fs.closeSync(fd);
    }
  }
  return swept;
}

/**
 * Drops the ingest of `ref` and its bytes. False when there was none; STORE_BUSY while a writer has it.
 *
 * @example
 * abortIngest(ctx, 'sha256:4f2a...');
 */
export function abortIngest(ctx: ContentContext, ref: string): boolean {
  const dir = ctx.layout.ingestDir(refKey(ref));
  if (!fs.existsSync(dir)) return false;
  const fd = lockIngestDir(ctx, dir, ref);
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

function statOrNull(path: string): fs.Stats | null {
  try {
    return fs.statSync(path);
  } catch {
    return null;
  }
}
