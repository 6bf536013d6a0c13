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
import { payloadSize, paxValue, resolveEntry } from './tar-entry.js';
import type { PendingExtensions, TarEntry } from './tar-entry.js';
import {
  checkSparseMap, feedSparseMapText, gnuSparseMap, hasSparseRecords, paxSparse, readGnuSparseExtension, readGnuSparseHeader,
  sparseMapText, sparsePairs0, type GnuSparseHead, type SparseMap, type SparseMapText,
} from './sparse-map.js';

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

/** A sparse entry held back from onEntry until its map is read. */
interface SparseInProgress {
  readonly entry: TarEntry;
  /** Old GNU: the header's map, extended block by block; the entry's payload is all data. */
  readonly gnu: GnuSparseHead | null;
  readonly payload: number;
  /** Old GNU: bytes of extension blocks read (bounded like an extended header). */
  extBytes: number;
  /** PAX 1.0: the map text at the start of the data, the real size from the records. */
  readonly text: SparseMapText | null;
  readonly realSize: number;
  /** PAX 1.0: zeros left to the end of the map's last block; -1 until the text is complete. */
  pad: number;
}

const S_HEADER = 0;
const S_EXT = 1;
const S_DATA = 2;
const S_SKIP = 3;
const S_END = 4;
const S_CLOSED = 5;
/** The extension blocks of an old GNU sparse header. */
const S_SPARSE_EXT = 6;
/** A PAX 1.0 sparse map at the start of the entry's data, and the zeros to its block's end. */
const S_SPARSE_MAP = 7;

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
  #sparse: SparseInProgress | null = null;

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
    } else if (state === S_SPARSE_EXT || state === S_SPARSE_MAP) {
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
      } else if (state === S_SPARSE_EXT) {
        pos = this.#readSparseExtension(chunk, pos);
      } else if (state === S_SPARSE_MAP) {
        pos = this.#readSparseMap(chunk, pos);
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
    const sparse = h.typeflag === 'S' || pending.sparse ? this.#startSparse(h, entry, payload, block, start, at) : false;
    pending.local = null;
    pending.longName = null;
    pending.longLink = null;
    pending.sparse = false;
    pending.sparsePairs = null;
    this.#pendingBytes = 0;
    if (!sparse) this.#emit(entry, payload, chunk, pos);
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

  /**
   * Reads what a sparse entry's header (or its PAX records, still pending) says of its map. A
   * map complete there is set on the entry at once (false: emit it now); one that continues in
   * extension blocks or leads the data sets `#sparse` and the state that reads the rest (true).
   */
  #startSparse(h: RawHeader, entry: TarEntry, payload: number, block: Buffer, start: number, at: number): boolean {
    const path = entry.path;
    const pending = this.#pending;
    const misplaced = (what: string): ShibafuError => new ShibafuError('TAR_CORRUPT', `Cannot read tar entry "${path}" at byte ${at}: GNU sparse records on ${what}`, {
      details: { offset: at, path },
    });
    if (h.typeflag === 'S') {
      if (pending.sparse) throw misplaced('an old GNU sparse header');
      const gnu = readGnuSparseHeader(block, start, at, h.format, path);
      if (!gnu.extended) {
        entry.sparse = this.#checked(gnuSparseMap(gnu), payload, entry, at);
        return false;
      }
      this.#sparse = { entry, gnu, payload, extBytes: 0, text: null, realSize: gnu.realSize, pad: 0 };
      this.#state = S_SPARSE_EXT;
      return true;
    }
    const found = paxSparse((key) => paxValue(pending, key), pending.sparsePairs, at, path);
    if (found.kind === 'none') return false;
    if (entry.type !== 'file') throw misplaced(`a ${entry.type}`);
    if (found.kind === 'map') {
      entry.sparse = this.#checked(found.map, payload, entry, at);
      return false;
    }
    if (payload === 0) throw this.#mapPastData(entry, at);
    this.#sparse = { entry, gnu: null, payload, extBytes: 0, text: sparseMapText(), realSize: found.realSize, pad: -1 };
    this.#remaining = payload;
    this.#state = S_SPARSE_MAP;
    return true;
  }

  #checked(map: SparseMap, stored: number, entry: TarEntry, at: number): SparseMap {
    checkSparseMap(map, stored, entry.path, at);
    return map;
  }

  /** One GNU sparse extension block (512 bytes, assembled in #hdr across chunks); returns the new position. */
  #readSparseExtension(chunk: Buffer, pos: number): number {
    const n = Math.min(BLOCK_SIZE - this.#hdrFill, chunk.length - pos);
    chunk.copy(this.#hdr, this.#hdrFill, pos, pos + n);
    pos += n;
    this.#hdrFill += n;
    if (this.#hdrFill < BLOCK_SIZE) return pos;
    this.#hdrFill = 0;
    const sp = this.#sparse as SparseInProgress;
    const gnu = sp.gnu as GnuSparseHead;
    const at = sp.entry.headerOffset;
    readGnuSparseExtension(this.#hdr, 0, at, gnu, sp.entry.path);
    sp.extBytes += BLOCK_SIZE;
    if (sp.extBytes > this.#maxExt) {
      throw new ShibafuError('LIMIT_EXCEEDED', `Cannot read sparse file "${sp.entry.path}" at byte ${at}: its map takes more than ${this.#maxExt} bytes`, {
        details: { offset: at, path: sp.entry.path, limit: this.#maxExt },
      });
    }
    if (gnu.extended) return pos;
    this.#sparse = null;
    sp.entry.sparse = this.#checked(gnuSparseMap(gnu), sp.payload, sp.entry, at);
    this.#emit(sp.entry, sp.payload, chunk, pos);
    return pos;
  }

  /**
   * The map text at the start of a PAX 1.0 sparse entry's data, then the zeros to the end of its
   * block (`pad`, -1 until the text is complete); the segments' bytes follow.
   */
  #readSparseMap(chunk: Buffer, pos: number): number {
    const sp = this.#sparse as SparseInProgress;
    const text = sp.text as SparseMapText;
    const at = sp.entry.headerOffset;
    if (!text.done) {
      const end = pos + Math.min(this.#remaining, chunk.length - pos);
      const stop = feedSparseMapText(text, chunk, pos, end, this.#maxExt, sp.entry.path, at);
      this.#remaining -= stop - pos;
      pos = stop;
      if (!text.done) {
        if (this.#remaining === 0) throw this.#mapPastData(sp.entry, at);
        return pos;
      }
      sp.pad = paddingFor(text.bytes);
      if (sp.pad > this.#remaining) throw this.#mapPastData(sp.entry, at);
    }
    const n = Math.min(sp.pad, chunk.length - pos);
    pos += n;
    sp.pad -= n;
    this.#remaining -= n;
    if (sp.pad > 0) return pos;
    this.#sparse = null;
    const map: SparseMap = { format: 'pax-1.0', realSize: sp.realSize, offsets: text.offsets, sizes: text.sizes };
    sp.entry.sparse = this.#checked(map, this.#remaining, sp.entry, at);
    this.#emit(sp.entry, this.#remaining, chunk, pos);
    return pos;
  }

  #mapPastData(entry: TarEntry, at: number): ShibafuError {
    return new ShibafuError('TAR_CORRUPT', `Cannot read sparse file "${entry.path}" at byte ${at}: its map runs past the entry's data`, {
      details: { offset: at, path: entry.path },
      hint: 'The archive is damaged or was written by a broken tool.',
    });
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
