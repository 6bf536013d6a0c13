/**
 * The content store: immutable blobs by digest at `blobs/sha256/<hex>`, each with a row in
 * `blobs`. Bytes come in through an ingest (hashed as written, verified, then published in a
 * write transaction: blob-ingest.ts, blob-publish.ts) and go out verified (blob-reader.ts). A
 * blob is never changed; it is only removed, with its row, in one crash-safe step.
 */
import { Readable } from 'node:stream';
import { blobsAfter, layersWithBlob, type BlobRow } from '../db/blob-queries.js';
import { ShibafuError } from '../errors.js';
import type { Digest } from '../ids.js';
import { BlobWriter } from './blob-ingest.js';
import { abortIngest, sweepIngests, type SweptIngest } from './ingest-dir.js';
import { dropBlob, purgeTrashed, sweepTrash, type ContentContext } from './blob-publish.js';
import { blobInfo, readBlob } from './blob-reader.js';

/** Rows read per query by `walk`: bounded memory whatever the number of blobs. */
const WALK_PAGE = 500;

export class ContentStore {
  readonly #ctx: ContentContext;

  /**
   * @example
   * const content = new ContentStore(store.context);
   */
  constructor(ctx: ContentContext) {
    this.#ctx = ctx;
  }

  /**
   * A writer for the blob ingest named `ref` (any string the caller chooses: the expected
   * digest, "import-<token>"). An ingest interrupted before its commit resumes: `offset` says
   * how many bytes are already there. STORE_BUSY while another writer has the same ref.
   *
   * @example
   * const w = await content.ingest(expected);
   * for await (const chunk of download({ from: w.offset })) await w.write(chunk);
   * await w.commit({ digest: expected, size, mediaType });
   */
  ingest(ref: string): Promise<BlobWriter> {
    return BlobWriter.open(this.#ctx, ref);
  }

  /**
   * Drops the ingest of `ref` and its bytes; false when there is none.
   *
   * @example
   * content.abort('import-1f2e');
   */
  abort(ref: string): boolean {
    return abortIngest(this.#ctx, ref);
  }

  /**
   * Removes ingests nobody has written to for `expiryMs` (24 h by default) and finishes removals
   * and commits that were interrupted. The store runs it when it opens; cheap when there are none.
   *
   * @example
   * content.sweepIngests({ expiryMs: 3600_000 })
   */
  sweepIngests(options: { expiryMs?: number; nowMs?: number } = {}): SweptIngest[] {
    sweepTrash(this.#ctx);
    return sweepIngests(this.#ctx, options);
  }

  /**
   * Size, media type (when the ingest said) and creation time; BLOB_NOT_FOUND when absent.
   *
   * @example
   * content.info(digest).size
   */
  info(digest: Digest): BlobRow {
    return blobInfo(this.#ctx, digest);
  }

  /** Whether the store holds the blob. */
  has(digest: Digest): boolean {
    try {
      blobInfo(this.#ctx, digest);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The blob's bytes as a stream, verified: the stream errors (DIGEST_MISMATCH) at its end when
   * the file does not hash to the digest. Write to a temporary name and rename only on success.
   *
   * @example
   * await pipeline(content.read(digest), fs.createWriteStream(tmp)); fs.renameSync(tmp, dest);
   */
  read(digest: Digest, options: { signal?: AbortSignal } = {}): Readable {
    return Readable.from(readBlob(this.#ctx, digest, options), { objectMode: false });
  }

  /**
   * Every blob, by digest order, a page of rows at a time.
   *
   * @example
   * for (const blob of content.walk()) console.log(blob.digest, blob.size);
   */
  *walk(): Generator<BlobRow> {
    let after: Digest | null = null;
    for (;;) {
      const page: BlobRow[] = this.#ctx.db.read(() => blobsAfter(this.#ctx.db, after, WALK_PAGE));
      yield* page;
      if (page.length < WALK_PAGE) return;
      after = page[page.length - 1]!.digest;
    }
  }

  /**
   * Removes a blob (row and file, in one crash-safe step). BLOB_IN_USE while a layer has it (it
   * goes with the last such layer: `layer rm`), BLOB_NOT_FOUND when absent.
   *
   * @example
   * content.delete(digest);
   */
  delete(digest: Digest): void {
    const dropped = this.#ctx.db.immediate(() => {
      const users = layersWithBlob(this.#ctx.db, digest);
      if (users > 0) {
        throw new ShibafuError('BLOB_IN_USE', `Cannot remove blob ${digest}: ${users} layer${users > 1 ? 's have' : ' has'} it`, {
          hint: 'It is removed with the last layer that has it: shibafu layer rm LAYER.',
        });
      }
      return dropBlob(this.#ctx, digest);
    });
    if (!dropped) blobInfo(this.#ctx, digest);
    purgeTrashed(this.#ctx, [digest]);
  }
}
