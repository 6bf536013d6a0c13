/**
 * The tar-split record: every byte of an imported archive that is not file content (headers, PAX
 * records, padding, the end blocks), plus a reference (path, size) for each file's content. With
 * the layer's diff dir it reproduces the original archive byte for byte, so `layer export` of an
 * imported layer hashes to its diffId, as containers/storage does with its tar-split files.
 *
 * Format (gzip-compressed): a sequence of records
 *   'R' u32be length, bytes          raw archive bytes
 *   'F' u64be size, u32be length, path (UTF-8, relative to the diff dir)   file content
 *   'S' u64be offset, u64be size, u64be file size, u32be length, path      one segment of a sparse
 *        file: `size` bytes at `offset` of the file, which has `file size` bytes (holes included)
 * A sparse file's segments follow one another in the archive, so its content is one 'S' record
 * per non-empty segment of its map, in order (one empty record for a file of holes only).
 */
import { createWriteStream, createReadStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { pipeline } from 'node:stream';
import { createGzip, createGunzip, type Gzip, constants as zc } from 'node:zlib';
import { ShibafuError } from '../errors.js';
import type { ApplyOp } from './apply-op.js';

/**
 * Records are framed into 1 MiB blocks and gzip gets one block per write. Writing each record
 * as it came (two writes per entry) queued ~100,000 zlib jobs during a 50,000-file parse, each
 * holding its own buffer, that then completed one per event-loop turn: +80 MiB RSS and a 30%
 * idle tail (docs/benchmarks.md, profile).
 */
const BLOCK = 1 << 20;
/** 'R' + u32 length. */
const RAW_HEAD = 5;
/** 'F' + u64 size + u32 length. */
const FILE_HEAD = 13;
/** 'S' + u64 offset + u64 size + u64 file size + u32 length. */
const SEGMENT_HEAD = 29;
/** Raw records stay under 256 KiB, as before: the reader re-concatenates a record until it is whole. */
const RUN_MAX = 256 * 1024;
const R = 0x52;
const F = 0x46;
const S = 0x53;

export class TarSplitWriter {
  readonly #gzip: Gzip;
  readonly #out: WriteStream;
  #block: Buffer = Buffer.allocUnsafe(BLOCK);
  #used = 0;
  /** Offset in #block of the open raw record's header, or -1. */
  #run = -1;
  #failed: unknown = null;

  /** Streams the record to `path` (created, mode 0600). */
  constructor(path: string) {
    // 256 KiB output chunks: each full output buffer costs one more thread-pool round trip.
    this.#gzip = createGzip({ level: zc.Z_BEST_SPEED, chunkSize: 256 * 1024 });
    this.#out = createWriteStream(path, { mode: 0o600, flags: 'wx' });
    this.#gzip.on('error', (err) => { this.#failed ??= err; });
    // pipe() only unpipes on a destination error: destroy gzip too, so ready() cannot wait forever.
    this.#out.on('error', (err) => { this.#failed ??= err; this.#gzip.destroy(err); });
    this.#gzip.pipe(this.#out);
  }

  /** Raw archive bytes (copied: the parser's chunks may be reused). */
  raw(bytes: Buffer): void {
    let off = 0;
    while (off < bytes.length) {
      if (this.#run < 0) {
        if (BLOCK - this.#used <= RAW_HEAD) this.#flushBlock();
        this.#run = this.#used;
        this.#block[this.#used] = R;
        this.#used += RAW_HEAD;
      }
      const room = RUN_MAX - (this.#used - this.#run - RAW_HEAD);
      const n = Math.min(bytes.length - off, BLOCK - this.#used, room);
      bytes.copy(this.#block, this.#used, off, off + n);
      this.#used += n;
      off += n;
      if (this.#used === BLOCK) this.#flushBlock();
      else if (n === room) this.#closeRun();
    }
  }

  /**
   * Records where the content of an op's entry comes from, the bytes the archive holds next:
   * a file's (one record) or a sparse file's segments (one each). Other ops have none.
   */
  content(op: ApplyOp): void {
    if (op.op === 'file') {
      this.file(op.parts.join('/'), op.size);
    } else if (op.op === 'sparse') {
      const path = op.parts.join('/');
      const { offsets, sizes, realSize } = op.map;
      let records = 0;
      for (let i = 0; i < offsets.length; i++) {
        if (sizes[i] === 0) continue;
        this.#record(S, path, [offsets[i]!, sizes[i]!, realSize]);
        records++;
      }
      // A file of holes only still gets one record: the export checks its size.
      if (records === 0) this.#record(S, path, [realSize, 0, realSize]);
    }
  }

  /** The next `size` bytes of the archive are the content of `path`. */
  file(path: string, size: number): void {
    this.#record(F, path, [size]);
  }

  /** A content record: its kind, its u64 numbers, then the path. */
  #record(kind: number, path: string, numbers: readonly number[]): void {
    this.#closeRun();
    const len = Buffer.byteLength(path, 'utf8');
    const head = 1 + 8 * numbers.length + 4;
    if (head + len > BLOCK - this.#used) this.#flushBlock();
    if (head + len > BLOCK) {
      // A path longer than a block (PAX allows it): a block of its own.
      const rec = Buffer.allocUnsafe(head + len);
      writeRecordHead(rec, 0, kind, numbers, len);
      rec.write(path, head, 'utf8');
      this.#write(rec);
      return;
    }
    writeRecordHead(this.#block, this.#used, kind, numbers, len);
    this.#block.write(path, this.#used + head, 'utf8');
    this.#used += head + len;
  }

  /**
   * Resolves once gzip has taken what it was given (backpressure). The importer awaits it between
   * source chunks, so at most about one chunk's records wait in memory; null when nothing waits.
   */
  ready(): Promise<void> | null {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    if (!this.#gzip.writableNeedDrain) return null;
    return once(this.#gzip, 'drain').then(() => undefined);
  }

  #closeRun(): void {
    if (this.#run < 0) return;
    this.#block.writeUInt32BE(this.#used - this.#run - RAW_HEAD, this.#run + 1);
    this.#run = -1;
  }

  #flushBlock(): void {
    this.#closeRun();
    if (this.#used === 0) return;
    // gzip keeps the buffer until its job is done: hand it over and start a new one.
    const full = this.#block.subarray(0, this.#used);
    this.#block = Buffer.allocUnsafe(BLOCK);
    this.#used = 0;
    this.#write(full);
  }

  #write(buf: Buffer): void {
    if (this.#failed !== null) throw this.#failed;
    this.#gzip.write(buf);
  }

  /** Flushes and waits for the file to be written. */
  async close(): Promise<void> {
    this.#flushBlock();
    this.#gzip.end();
    if (!this.#out.closed) await once(this.#out, 'close');
    if (this.#failed !== null) throw this.#failed;
  }

  /** Stops writing after a failure (the staged file is removed with its directory). */
  destroy(): void {
    this.#gzip.destroy();
    this.#out.destroy();
  }
}

function writeRecordHead(buf: Buffer, at: number, kind: number, numbers: readonly number[], len: number): void {
  buf[at] = kind;
  let p = at + 1;
  for (const n of numbers) {
    buf.writeBigUInt64BE(BigInt(n), p);
    p += 8;
  }
  buf.writeUInt32BE(len, p);
}

export type TarSplitRecord =
  | { kind: 'raw'; bytes: Buffer }
  | { kind: 'file'; path: string; size: number }
  | { kind: 'segment'; path: string; offset: number; size: number; fileSize: number };

/**
 * Reads a tar-split record back.
 *
 * @example
 * for await (const r of readTarSplit(path)) if (r.kind === 'file') ...
 */
export async function* readTarSplit(path: string): AsyncGenerator<TarSplitRecord> {
  let buf: Buffer = Buffer.alloc(0);
  // pipeline, not pipe: an error of the file stream (a missing record) must reach the reader;
  // pipeline destroys the gunzip stream with it, which ends the loop below with that error.
  const input = createGunzip();
  pipeline(createReadStream(path), input, () => {});
  for await (const chunk of input) {
    buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
    for (;;) {
      const rec = decodeRecord(buf);
      if (rec === null) break;
      buf = buf.subarray(rec.used);
      yield rec.record;
    }
  }
  if (buf.length > 0) throw new ShibafuError('STORE_CORRUPT', `Cannot read tar-split record ${path}: it ends inside a record`);
}

function decodeRecord(buf: Buffer): { record: TarSplitRecord; used: number } | null {
  if (buf.length < 1) return null;
  const kind = String.fromCharCode(buf[0] as number);
  if (kind === 'R') {
    if (buf.length < 5) return null;
    const len = buf.readUInt32BE(1);
    if (buf.length < 5 + len) return null;
    return { record: { kind: 'raw', bytes: buf.subarray(5, 5 + len) }, used: 5 + len };
  }
  if (kind === 'F') {
    if (buf.length < FILE_HEAD) return null;
    const size = Number(buf.readBigUInt64BE(1));
    const len = buf.readUInt32BE(9);
    if (buf.length < FILE_HEAD + len) return null;
    return { record: { kind: 'file', size, path: buf.toString('utf8', FILE_HEAD, FILE_HEAD + len) }, used: FILE_HEAD + len };
  }
  if (kind === 'S') {
    if (buf.length < SEGMENT_HEAD) return null;
    const len = buf.readUInt32BE(25);
    if (buf.length < SEGMENT_HEAD + len) return null;
    return {
      record: {
        kind: 'segment',
        offset: Number(buf.readBigUInt64BE(1)),
        size: Number(buf.readBigUInt64BE(9)),
        fileSize: Number(buf.readBigUInt64BE(17)),
        path: buf.toString('utf8', SEGMENT_HEAD, SEGMENT_HEAD + len),
      },
      used: SEGMENT_HEAD + len,
    };
  }
  throw new ShibafuError('STORE_CORRUPT', `Cannot read tar-split record: unknown record type ${JSON.stringify(kind)}`);
}
