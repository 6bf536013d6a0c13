/**
 * Ingest: bytes hashed as they are written to a file of their own, then verified and published
 * (blob-publish.ts). Two kinds of writer share this code:
 *
 *  - resumable, by ref: `blobs/ingest/<sha256(ref)>/` holds `data` and `ref`, and an exclusive
 *    flock(2) on the dir for as long as a writer has it (the kernel drops it when the process
 *    dies). A later writer of the same ref re-hashes the bytes already there and goes on at their
 *    length (`offset`: what an HTTP Range request asks for). The dir is not under tmp/, which is
 *    swept at every open: a half-downloaded blob waits for its ref until it expires
 *    (`sweepIngests`, default 24 h without a write), as containerd's ingests do;
 *  - staged: a file inside a caller's locked staging dir (an import's), swept with it. Never
 *    resumed: the caller's source cannot be read again.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { ShibafuError, fromSystemError } from '../errors.js';
import type { Digest } from '../ids.js';
import { publishBlob, unpublishBlob, type ContentContext, type PublishedBlob, type SealedBlob } from './blob-publish.js';
import { finishInterruptedCommit, lockIngestDir, refKey } from './ingest-dir.js';

const READ_CHUNK = 1 << 20;

export interface ExpectedBlob {
  /** The digest the bytes must have (DIGEST_MISMATCH otherwise, and nothing is stored). */
  readonly digest?: Digest;
  readonly size?: number;
}

export interface CommitBlobOptions<T> extends ExpectedBlob {
  readonly mediaType?: string;
  /**
   * Runs inside the transaction that publishes the blob, with the blob's row: the caller's own
   * rows (a layer's, its link to the blob) appear in the same commit as the blob's, or neither.
   */
  readonly inTransaction?: (published: PublishedBlob) => T;
}

export interface CommittedBlob<T> extends PublishedBlob {
  readonly result: T | undefined;
}

/**
 * One ingest in progress. `write` appends; `commit` flushes, verifies, publishes; `close` stops
 * without publishing (a resumable ingest keeps its bytes for the next writer of its ref);
 * `abort` drops the bytes.
 */
export class BlobWriter {
  /** The ref of a resumable ingest; null for a staged one. */
  readonly ref: string | null;
  readonly #ctx: ContentContext;
  /** The ingest dir (resumable) or null (staged: the caller owns the dir). */
  readonly #dir: string | null;
  readonly #dirFd: number;
  readonly #path: string;
  readonly #flush: boolean;
  #fd: number;
  /** Null when the caller hashes the same bytes itself and gives the digest to `seal`. */
  #hash: Hash | null;
  #offset: number;
  #done = false;

  private constructor(init: { ctx: ContentContext; ref: string | null; dir: string | null; dirFd: number; path: string; fd: number; hash: Hash | null; offset: number; flush: boolean }) {
    this.#ctx = init.ctx;
    this.ref = init.ref;
    this.#dir = init.dir;
    this.#dirFd = init.dirFd;
    this.#path = init.path;
    this.#fd = init.fd;
    this.#hash = init.hash;
    this.#offset = init.offset;
    this.#flush = init.flush;
  }

  /**
   * Opens (or resumes) the ingest of `ref`. Throws STORE_BUSY while another writer has it.
   *
   * @example
   * const w = await BlobWriter.open(ctx, 'sha256:4f2a...'); // w.offset: bytes already there
   */
  static async open(ctx: ContentContext, ref: string): Promise<BlobWriter> {
    const dir = ctx.layout.ingestDir(refKey(ref));
    const dirFd = lockIngestDir(ctx, dir, ref);
    try {
      finishInterruptedCommit(ctx, dir);
      const refFile = ctx.layout.ingestRef(dir);
      if (!fs.existsSync(refFile)) fs.writeFileSync(refFile, ref, { mode: 0o600 });
      const path = ctx.layout.ingestData(dir);
      const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
      try {
        const { hash, size } = await rehash(fd);
        return new BlobWriter({ ctx, ref, dir, dirFd, path, fd, hash, offset: size, flush: true });
      } catch (err) {
        fs.closeSync(fd);
        throw err;
      }
    } catch (err) {
      fs.closeSync(dirFd);
      throw fromSystemError(err, `open the ingest of "${ref}"`);
    }
  }

  /**
   * A writer to `path` inside a staging dir the caller holds locked and removes. `flush: false`
   * when the caller makes the file durable itself (an import's one syncfs over its whole tree);
   * `hashed: false` when the caller hashes the very bytes it writes (an import hashes its archive
   * as it reads it: a second sha256 of the same bytes cost ~0.1 s per 100 MB): `seal` then takes
   * the digest and size the caller computed.
   *
   * @example
   * const w = BlobWriter.staged(ctx, layout.stagedBlob(stage.path), { flush: false, hashed: false });
   */
  static staged(ctx: ContentContext, path: string, options: { flush?: boolean; hashed?: boolean } = {}): BlobWriter {
    let fd: number;
    try {
      fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    } catch (err) {
      throw fromSystemError(err, `create ${path}`);
    }
    return new BlobWriter({ ctx, ref: null, dir: null, dirFd: -1, path, fd, hash: options.hashed === false ? null : createHash('sha256'), offset: 0, flush: options.flush !== false });
  }

  /** Bytes written so far (for a resumed ingest, starting at what the earlier writers left). */
  get offset(): number { return this.#offset; }

  /** The file the bytes go to (a reader may follow it as it grows: a pull unpacks while it downloads). */
  get path(): string { return this.#path; }

  /** Appends `chunk` (waits for the write; the caller's loop gets backpressure for free). */
  async write(chunk: Uint8Array): Promise<void> {
    this.#assertOpen();
    this.#hash?.update(chunk);
    for (let done = 0; done < chunk.length;) {
      const n = await new Promise<number>((resolve, reject) => fs.write(this.#fd, chunk, done, chunk.length - done, this.#offset + done,
        (err, written) => (err ? reject(fromSystemError(err, `write blob ingest ${this.ref ?? this.#path}`)) : resolve(written))));
      done += n;
    }
    this.#offset += chunk.length;
  }

  /**
   * Flushes and verifies the bytes; after this the writer takes no more. On a mismatch the bytes
   * are dropped (a resumable ingest is removed) and DIGEST_MISMATCH thrown.
   */
  seal(expected: ExpectedBlob = {}): SealedBlob {
    this.#assertOpen();
    if (this.#hash === null && expected.digest === undefined) {
      throw new ShibafuError('INTERNAL', `Cannot seal blob ${this.#path}: a writer that does not hash needs the digest of its bytes`);
    }
    const digest = this.#hash === null ? expected.digest as Digest : `sha256:${this.#hash.digest('hex')}` as Digest;
    const size = this.#offset;
    try {
      if (this.#flush) fs.fsyncSync(this.#fd);
    } catch (err) {
      this.abort();
      throw fromSystemError(err, `flush blob ${digest}`);
    }
    fs.closeSync(this.#fd);
    this.#fd = -1;
    if ((expected.size !== undefined && expected.size !== size) || (expected.digest !== undefined && expected.digest !== digest)) {
      this.abort();
      throw new ShibafuError('DIGEST_MISMATCH', `Cannot store blob${this.ref === null ? '' : ` "${this.ref}"`}: its bytes do not match what was expected (${size} bytes, ${digest}; expected ${expected.size ?? '?'} bytes, ${expected.digest ?? '?'})`, {
        hint: 'The data was damaged or is not the blob that was asked for; nothing was stored. Fetch it again.',
        details: { expected: expected.digest, actual: digest, expectedSize: expected.size, size },
      });
    }
    return { digest, size, path: this.#path };
  }

  /**
   * Seals, then publishes in one write transaction with the caller's rows, and ends the ingest.
   *
   * @example
   * const { blob } = await w.commit({ digest: expected, mediaType: 'application/vnd.oci.image.config.v1+json' });
   */
  async commit<T = undefined>(options: CommitBlobOptions<T> = {}): Promise<CommittedBlob<T>> {
    const sealed = this.seal(options);
    const marker = this.#dir === null ? null : this.#ctx.layout.ingestCommitting(this.#dir);
    try {
      // A kill between the publishing rename and the commit leaves a file without a row: the
      // marker tells the next owner (or sweeper) of this ingest dir to remove it.
      if (marker !== null) writeDurably(marker, sealed.digest);
      const committed = this.#ctx.db.immediate((): CommittedBlob<T> => {
        const published = publishBlob(this.#ctx, sealed, options.mediaType ?? null);
        return { ...published, result: options.inTransaction?.(published) };
      });
      this.#finish(true);
      return committed;
    } catch (err) {
      // The verified bytes stay for a retry under the same ref (a busy store must not cost a
      // whole download again).
      unpublishBlob(this.#ctx, sealed);
      if (marker !== null) fs.rmSync(marker, { force: true });
      this.#finish(this.#dir === null);
      throw err;
    }
  }

  /** Stops writing and releases the ingest; a resumable one keeps its bytes for a resume. */
  close(): void {
    this.#finish(false);
  }

  /** Stops writing and drops the bytes. */
  abort(): void {
    this.#finish(true);
  }

  #finish(remove: boolean): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
    // Removed while still locked: a writer that opened the dir meanwhile finds it gone once it
    // gets the lock, and starts over in a fresh one.
    if (remove) fs.rmSync(this.#dir ?? this.#path, { recursive: true, force: true });
    if (this.#dirFd >= 0) fs.closeSync(this.#dirFd);
  }

  #assertOpen(): void {
    if (this.#done || this.#fd < 0) throw new ShibafuError('INTERNAL', `Cannot write blob ingest ${this.ref ?? this.#path}: it was committed or closed`);
  }
}

/** The hash state of the bytes already in an ingest, restored by reading them once. */
async function rehash(fd: number): Promise<{ hash: Hash; size: number }> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let size = 0;
  for (;;) {
    const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, size, (err, got) => (err ? reject(err) : resolve(got))));
    if (n === 0) return { hash, size };
    hash.update(buf.subarray(0, n));
    size += n;
  }
}

function writeDurably(path: string, text: string): void {
  const fd = fs.openSync(path, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
