/**
 * Reading a blob: its bytes as they stream, hashed on the way and checked after the last one. A
 * blob whose file changed on disk (a flipped bit, a truncation) ends in DIGEST_MISMATCH instead of
 * a clean end, so a caller that writes to a file renames it into place only after the stream
 * ended without error, and a consumer never takes corrupt bytes for the blob.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { blobByDigest, type BlobRow } from '../db/blob-queries.js';
import { ShibafuError, errnoCode, fromSystemError } from '../errors.js';
import type { Digest } from '../ids.js';
import type { ContentContext } from './blob-publish.js';

const READ_CHUNK = 1 << 20;

/** The blob's row; BLOB_NOT_FOUND when the store has no such blob. */
export function blobInfo(ctx: ContentContext, digest: Digest): BlobRow {
  const row = ctx.db.read(() => blobByDigest(ctx.db, digest));
  if (row === undefined) {
    throw new ShibafuError('BLOB_NOT_FOUND', `Cannot find blob ${digest}: the content store does not hold it`, {
      hint: 'Blobs come with `layer create` of a gzip or zstd archive; see `shibafu layer inspect LAYER` for a layer\'s blobs.',
    });
  }
  return row;
}

/**
 * The verified bytes of a blob. The file is opened at once (a missing blob fails here, before
 * the first chunk is asked for); the digest is checked when the stream ends.
 *
 * @example
 * for await (const chunk of readBlob(ctx, digest)) out.write(chunk); // throws DIGEST_MISMATCH at the end if corrupt
 */
export function readBlob(ctx: ContentContext, digest: Digest, options: { signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
  const row = blobInfo(ctx, digest);
  let fd: number;
  try {
    fd = fs.openSync(ctx.layout.blob(digest), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      throw new ShibafuError('STORE_CORRUPT', `Cannot read blob ${digest}: its file is missing`, {
        hint: 'The file under blobs/sha256/ was removed behind shibafu. Re-create the layer from its archive.',
        cause: err,
      });
    }
    throw fromSystemError(err, `read blob ${digest}`);
  }
  return verifiedChunks(fd, row, options.signal);
}

async function* verifiedChunks(fd: number, row: BlobRow, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let pos = 0;
  try {
    for (;;) {
      signal?.throwIfAborted();
      // One byte past the recorded size is read too, so that a file that grew is caught.
      const want = Math.min(READ_CHUNK, row.size + 1 - pos);
      const buf = Buffer.allocUnsafe(Math.max(want, 1));
      const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, pos, (err, got) => (err ? reject(fromSystemError(err, `read blob ${row.digest}`)) : resolve(got))));
      if (n === 0) break;
      pos += n;
      if (pos > row.size) throw corrupt(row, `it has more than its ${row.size} bytes`);
      const chunk = n === buf.length ? buf : buf.subarray(0, n);
      hash.update(chunk);
      yield chunk;
    }
    if (pos !== row.size) throw corrupt(row, `it has ${pos} of its ${row.size} bytes`);
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== row.digest) throw corrupt(row, `its bytes hash to ${got}`);
  } finally {
    fs.close(fd, () => {});
  }
}

function corrupt(row: BlobRow, what: string): ShibafuError {
  return new ShibafuError('DIGEST_MISMATCH', `Cannot read blob ${row.digest}: its file changed on disk: ${what}`, {
    hint: 'The blob under blobs/sha256/ was damaged behind shibafu; nothing verified was lost. Remove the layer and create it again from its archive.',
    details: { digest: row.digest },
  });
}

/**
 * Reads a blob through without keeping anything (DIGEST_MISMATCH if it is corrupt).
 *
 * @example
 * await verifyBlob(ctx, digest);
 */
export async function verifyBlob(ctx: ContentContext, digest: Digest, options: { signal?: AbortSignal } = {}): Promise<void> {
  for await (const chunk of readBlob(ctx, digest, options)) void chunk;
}
