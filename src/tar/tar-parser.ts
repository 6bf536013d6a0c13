/**
 * Synchronous push parser for tar streams (POSIX ustar, pax and GNU formats).
 *
 * Why synchronous and push: the importer drives it from a decompressor's output and must keep
 * within 1.5x of GNU tar, so every callback runs inline with no promises, and file data is handed
 * out as views (`subarray`) of the caller's chunks: no copy, no per-byte loop over data. Only
 * header blocks, PAX records and GNU long names are ever buffered, and each is bounded, so memory
 * does not grow with the archive.
 *
 * Stream contract (the order of callbacks):
 * `onRaw*` (padding, extension headers, the header) → `onEntry` → `onData*` → `onEntryEnd`, per
 * entry; after the end-of-archive block everything left is reported through `onRaw`.
 * The bytes given to `onRaw` and `onData`, concatenated in call order, are exactly the input: that is
 * what lets the importer keep a tar-split record and reproduce the original archive on export.
 *
 * A GNU sparse file (src/tar/sparse-map.ts) is one entry whose `sparse` map is complete when
 * `onEntry` runs: its extension blocks (old GNU) or the map at the start of its data (PAX 1.0) are
 * read first and go to `onRaw`; `onData` then gives only the segments' bytes.
 *
 * One zero block ends the archive (GNU tar accepts a lone zero block); what follows it is ignored.
 * Input that stops at an entry boundary without any zero block is TAR_TRUNCATED: OCI layer tars
 * always end with the marker, and its absence is how a cut-off download shows.
 */
import { ShibafuError } from '../errors.js';
import { BLOCK_SIZE, decodeHeaderAt, paddingFor, parsePax } from './tar-header.js';
import type { RawHeader } from './tar-header.js';
import { payloadSize, resolveEntry } from './tar-entry.js';
import type { PendingExtensions, TarEntry } from './tar-entry.js';
import { hasSparseRecords, sparsePairs0 } from './sparse-map.js';
import { readSparse, startSparse, type SparseReading } from './sparse-entry.js';

/** The parser's outputs; all synchronous. An exception thrown by one aborts the parse. */
export interface TarParserCallbacks {
  /** A new entry; its data (files only) follows through `onData`. */
  onEntry(entry: TarEntry): void;
  /** The next bytes of the current file, never padding: a view into the written chunk, not a copy
   * (copy it to keep it past the call if the writer reuses its chunks). */
  onData(chunk: Buffer): void;
  /** The current entry is complete (called for every entry, files or not). */
  onEntryEnd(): void;
  /** Every byte that is not file data, in stream order; omit it and no work is done for it. */
  onRaw?(bytes: Buffer): void;
}

/** Parser limits. */
export interface TarParserOptions {
  /** Largest PAX or GNU long-name record, or GNU sparse map, accepted (default 1 MiB). */
  maxExtendedSize?: number;
}

const MiB = 1024 * 1024;

const S_HEADER = 0;
const S_EXT = 1;
const S_DATA = 2;
const S_SKIP = 3;
const S_END = 4;
const S_CLOSED = 5;
/** A sparse entry's map after its header (sparse-entry.ts). */
const S_SPARSE = 6;

/**
 * Push parser: feed chunks of any size with `write`, then call `end`.
 *
 * @example
 * const parser = new TarParser({
 *   onEntry: (e) => console.log(e.type, e.path, e.size),
 *   onData: (chunk) => hash.update(chunk),
 *   onEntryEnd: () => {},
 * });
 * for await (const chunk of stream) parser.write(chunk);
 * parser.end();
 */
export class TarParser {
  readonly #onEntry: (entry: TarEntry) => void;
  readonly #onData: (chunk: Buffer) => void;
  readonly #onEntryEnd: () => void;
  readonly #onRaw: ((bytes: Buffer) => void) | undefined;
  readonly #maxExt: number;

  #state = S_HEADER;
  #error: unknown = undefined;
  /** Archive offset of the first byte of the chunk being consumed. */
  #base = 0;
  /** Start, in the current chunk, of raw bytes not yet given to onRaw. */
  #rawFrom = 0;
  #ended = false;

  readonly #hdr = Buffer.alloc(BLOCK_SIZE);
  #hdrFill = 0;

  #ext: Buffer = Buffer.alloc(0);
  #extFill = 0;
  #extType = '';
  #extOffset = 0;

  #remaining = 0;
  #padding = 0;
  #dataIsFile = false;
  /** What the current data or padding belongs to, for truncation messages. */
  #what = '';

  readonly #pending: PendingExtensions = { global: null, local: null, longName: null, longLink: null, sparse: false, sparsePairs: null };
  #pendingBytes = 0;

  /** A sparse entry whose map is still being read. */
  #sparse: SparseReading | null = null;

  constructor(callbacks: TarParserCallbacks, options: TarParserOptions = {}) {
    this.#onEntry = callbacks.onEntry;
    this.#onData = callbacks.onData;
    this.#onEntryEnd = callbacks.onEntryEnd;
    this.#onRaw = callbacks.onRaw;
    this.#maxExt = options.maxExtendedSize ?? MiB;
  }

  /** Bytes written so far (including any ignored after the end-of-archive block). */
  get bytesConsumed(): number {
    return this.#base;
  }

  /** True once the end-of-archive block has been seen. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Consumes one chunk; callbacks run before it returns. Throws ShibafuError on bad input. */
  write(chunk: Buffer): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#state === S_CLOSED) throw new ShibafuError('INTERNAL', 'Cannot write to a tar parser after end()');
    try {
      this.#consume(chunk);
    } catch (err) {
      this.#error = err;
      throw err;
    }
  }

  /** Declares the end of input; throws TAR_TRUNCATED unless the archive was complete. */
  end(): void {
    if (this.#error !== undefined) throw this.#error;
    const state = this.#state;
    this.#state = S_CLOSED;
    if (state === S_END || state === S_CLOSED) return;
    let where: string;
    if (state === S_HEADER && this.#hdrFill > 0) {
      where = `inside a header block at byte ${this.#base}`;
    } else if (state === S_HEADER && this.#pendingBytes > 0) {
      where = `after an extended header, without its entry, at byte ${this.#base}`;
    } else if (state === S_HEADER) {
      where = `at byte ${this.#base} without an end-of-archive block`;
    } else if (state === S_EXT) {
      where = `inside ${this.#what} at byte ${this.#base}`;
    } else if (state === S_DATA) {
      where = `inside the data of ${this.#what} at byte ${this.#base}`;
    } else if (state === S_SPARSE) {
      where = `inside the sparse map of ${this.#what} at byte ${this.#base}`;
    } else {
      where = `inside the padding of ${this.#what} at byte ${this.#base}`;
    }
    this.#error = new ShibafuError('TAR_TRUNCATED', `Cannot read tar archive: archive ends ${where}`, {
      details: { offset: this.#base },
      hint: 'The archive is incomplete: download or copy it again.',
    });
    throw this.#error;
  }

  #consume(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    this.#rawFrom = 0;
    while (pos < len) {
      const state = this.#state;
      if (state === S_DATA) {
        const n = Math.min(this.#remaining, len - pos);
        if (this.#dataIsFile) {
          this.#flushRaw(chunk, pos);
          this.#onData(chunk.subarray(pos, pos + n));
          this.#rawFrom = pos + n;
        }
        pos += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#endData();
      } else if (state === S_HEADER) {
        pos = this.#readHeader(chunk, pos);
      } else if (state === S_SKIP) {
        const n = Math.min(this.#padding, len - pos);
        pos += n;
        this.#padding -= n;
        if (this.#padding === 0) this.#state = S_HEADER;
      } else if (state === S_EXT) {
        const n = Math.min(this.#ext.length - this.#extFill, len - pos);
        chunk.copy(this.#ext, this.#extFill, pos, pos + n);
        pos += n;
        this.#extFill += n;
        if (this.#extFill === this.#ext.length) this.#endExt();
      } else if (state === S_SPARSE) {
        const read = readSparse(this.#sparse as SparseReading, chunk, pos, this.#maxExt);
        pos = read.pos;
        if (read.done !== null) {
          const { entry } = this.#sparse as SparseReading;
          this.#sparse = null;
          this.#emit(entry, read.done.dataSize, chunk, pos);
        }
      } else {
        // After the end-of-archive block: ignored, but still raw bytes of the original stream.
        pos = len;
      }
    }
    this.#flushRaw(chunk, len);
    this.#base += len;
  }

  #flushRaw(chunk: Buffer, upto: number): void {
    if (this.#onRaw !== undefined && upto > this.#rawFrom) this.#onRaw(chunk.subarray(this.#rawFrom, upto));
    this.#rawFrom = upto;
  }

  /** Reads (or completes) one header block; returns the new position in `chunk`. */
  #readHeader(chunk: Buffer, pos: number): number {
    let h: RawHeader | null;
    let block = chunk;
    let start = pos;
    const at = this.#base + pos - this.#hdrFill;
    if (this.#hdrFill === 0 && chunk.length - pos >= BLOCK_SIZE) {
      // The common case: the whole block is in this chunk, decode it in place.
      h = decodeHeaderAt(chunk, pos, at);
      pos += BLOCK_SIZE;
    } else {
      const n = Math.min(BLOCK_SIZE - this.#hdrFill, chunk.length - pos);
      chunk.copy(this.#hdr, this.#hdrFill, pos, pos + n);
      pos += n;
      this.#hdrFill += n;
      if (this.#hdrFill < BLOCK_SIZE) return pos;
      this.#hdrFill = 0;
      block = this.#hdr;
      start = 0;
      h = decodeHeaderAt(this.#hdr, 0, at);
    }
    if (h === null) {
      if (this.#pendingBytes > 0) {
        throw new ShibafuError('TAR_CORRUPT', `Cannot read tar archive: an extended header is followed by the end-of-archive block at byte ${at}`, {
          details: { offset: at },
        });
      }
      this.#state = S_END;
      this.#ended = true;
      return pos;
    }
    const t = h.typeflag;
    if (t === 'x' || t === 'g' || t === 'L' || t === 'K') {
      this.#startExt(h, at);
      return pos;
    }
    this.#startEntry(h, at, chunk, pos, block, start);
    return pos;
  }

  /** `block` at `start`: the header's bytes, still valid during this call (an old GNU sparse map is read from them). */
  #startEntry(h: RawHeader, at: number, chunk: Buffer, pos: number, block: Buffer, start: number): void {
    const pending = this.#pending;
    const entry = resolveEntry(h, pending, at);
    const payload = payloadSize(h, pending, at);
    this.#what = JSON.stringify(entry.path);
    // Sparse files are rare: an entry pays a typeflag test and a flag set when PAX records were parsed.
    const sparse = h.typeflag === 'S' || pending.sparse ? startSparse(h, entry, payload, pending, block, start, at) : null;
    pending.local = null;
    pending.longName = null;
    pending.longLink = null;
    pending.sparse = false;
    pending.sparsePairs = null;
    this.#pendingBytes = 0;
    if (sparse === null) {
      this.#emit(entry, payload, chunk, pos);
    } else {
      // Its map goes on after the header: read before the entry is handed out.
      this.#sparse = sparse;
      this.#state = S_SPARSE;
    }
  }

  /** Hands the entry out; its `dataSize` bytes of data follow (the payload's, or a sparse entry's after its map). */
  #emit(entry: TarEntry, dataSize: number, chunk: Buffer, pos: number): void {
    this.#dataIsFile = entry.type === 'file';
    if (this.#dataIsFile) entry.size = dataSize;
    this.#remaining = dataSize;
    this.#padding = paddingFor(dataSize);
    this.#flushRaw(chunk, pos);
    this.#onEntry(entry);
    if (dataSize === 0) this.#endData();
    else this.#state = S_DATA;
  }

  #endData(): void {
    this.#onEntryEnd();
    this.#state = this.#padding === 0 ? S_HEADER : S_SKIP;
  }

  #startExt(h: RawHeader, at: number): void {
    const size = h.size;
    this.#pendingBytes += size + BLOCK_SIZE;
    // Each record is capped, and so is their sum before one entry (several 'x' and 'L' in a row).
    if (size > this.#maxExt || this.#pendingBytes > 4 * this.#maxExt) {
      throw new ShibafuError(
        'LIMIT_EXCEEDED',
        `Cannot read tar archive: the extended header at byte ${at} holds ${size} bytes, more than the ${this.#maxExt}-byte limit`,
        { details: { offset: at, size, limit: this.#maxExt } },
      );
    }
    this.#extType = h.typeflag;
    this.#extOffset = at;
    this.#ext = Buffer.allocUnsafe(size);
    this.#extFill = 0;
    this.#padding = paddingFor(size);
    this.#what = `the extended header (header at byte ${at})`;
    if (size === 0) this.#endExt();
    else this.#state = S_EXT;
  }

  #endExt(): void {
    const data = this.#ext;
    const pending = this.#pending;
    this.#ext = Buffer.alloc(0);
    switch (this.#extType) {
      case 'x': {
        const records = parsePax(data, this.#extOffset);
        if (hasSparseRecords(records)) {
          pending.sparse = true;
          // Format 0.0's offset/size records repeat: only the raw body still has them all, in order.
          if (records.has('GNU.sparse.offset') || records.has('GNU.sparse.numbytes')) {
            pending.sparsePairs = [...(pending.sparsePairs ?? []), ...sparsePairs0(data, this.#extOffset)];
          }
        }
        pending.local = mergeRecords(pending.local, records);
        break;
      }
      case 'g': {
        const records = parsePax(data, this.#extOffset);
        if (hasSparseRecords(records)) {
          throw new ShibafuError('TAR_CORRUPT', `Cannot read tar archive: a global PAX header at byte ${this.#extOffset} holds GNU sparse records, which describe one file`, {
            details: { offset: this.#extOffset },
          });
        }
        pending.global = mergeRecords(pending.global, records);
        // Global records outlive the entry they precede; keep their total bounded too.
        if (recordsSize(pending.global) > this.#maxExt) {
          throw new ShibafuError('LIMIT_EXCEEDED', `Cannot read tar archive: global PAX records exceed ${this.#maxExt} bytes at byte ${this.#extOffset}`, {
            details: { offset: this.#extOffset, limit: this.#maxExt },
          });
        }
        this.#pendingBytes -= data.length + BLOCK_SIZE;
        break;
      }
      case 'L':
        pending.longName = untilNul(data);
        break;
      default:
        pending.longLink = untilNul(data);
    }
    this.#state = this.#padding === 0 ? S_HEADER : S_SKIP;
  }
}

function mergeRecords(into: Map<string, Buffer> | null, from: Map<string, Buffer>): Map<string, Buffer> {
  if (into === null) return from;
  for (const [k, v] of from) into.set(k, v);
  return into;
}

function recordsSize(records: Map<string, Buffer>): number {
  let n = 0;
  for (const [k, v] of records) n += k.length + v.length;
  return n;
}

/** GNU long names are NUL-terminated inside their data. */
function untilNul(data: Buffer): Buffer {
  const nul = data.indexOf(0);
  return nul < 0 ? data : data.subarray(0, nul);
}
