/**
 * Reading a GNU sparse entry's map from the stream, for the tar parser: what its header and PAX
 * records say, then what follows the header before the segments' bytes (old GNU's extension
 * blocks, PAX 1.0's map text padded to a block). The decoding and the checks are sparse-map.ts's;
 * this is the state between chunks. All of it is raw archive bytes (the parser reports them
 * through onRaw), so the tar-split record keeps them.
 */
import { ShibafuError } from '../errors.js';
import { BLOCK_SIZE, paddingFor, type RawHeader } from './tar-header.js';
import { paxValue, type PendingExtensions, type TarEntry } from './tar-entry.js';
import {
  checkSparseMap, feedSparseMapText, gnuSparseMap, paxSparse, readGnuSparseExtension, readGnuSparseHeader, sparseMapText,
  type GnuSparseHead, type SparseMap, type SparseMapText,
} from './sparse-map.js';

/** A sparse entry whose map continues after its header: what is read of it so far. */
export type SparseReading =
  | {
    readonly kind: 'gnu-extension';
    readonly entry: TarEntry;
    readonly head: GnuSparseHead;
    /** The entry's payload: all segment data (extension blocks are outside it). */
    readonly payload: number;
    /** The extension block being assembled across chunks, and the blocks' bytes so far. */
    readonly block: Buffer;
    fill: number;
    bytes: number;
  }
  | {
    readonly kind: 'pax-map';
    readonly entry: TarEntry;
    readonly text: SparseMapText;
    readonly realSize: number;
    /** Payload bytes not yet consumed: the rest of the map, its padding, the segments. */
    remaining: number;
    /** Zeros left to the end of the map's last block; -1 until the text is complete. */
    pad: number;
  };

/**
 * Starts a sparse entry (an old GNU 'S' header, or PAX records with GNU.sparse.* keywords, still
 * in `pending`): a map complete here is checked and set on `entry` (returns null: hand it out
 * now); one that goes on after the header returns the reading state for `readSparse`.
 * `block` at `start` holds the header's 512 bytes.
 *
 * @example
 * const reading = startSparse(h, entry, payload, pending, block, start, at);
 */
export function startSparse(h: RawHeader, entry: TarEntry, payload: number, pending: PendingExtensions, block: Buffer, start: number, at: number): SparseReading | null {
  const path = entry.path;
  const misplaced = (what: string): ShibafuError => new ShibafuError('TAR_CORRUPT', `Cannot read tar entry "${path}" at byte ${at}: GNU sparse records on ${what}`, {
    details: { offset: at, path },
  });
  if (h.typeflag === 'S') {
    if (pending.sparse) throw misplaced('an old GNU sparse header');
    const head = readGnuSparseHeader(block, start, at, h.format, path);
    if (head.extended) return { kind: 'gnu-extension', entry, head, payload, block: Buffer.alloc(BLOCK_SIZE), fill: 0, bytes: 0 };
    entry.sparse = checked(gnuSparseMap(head), payload, entry);
    return null;
  }
  const found = paxSparse((key) => paxValue(pending, key), pending.sparsePairs, at, path);
  if (found.kind === 'none') return null;
  if (entry.type !== 'file') throw misplaced(`a ${entry.type}`);
  if (found.kind === 'map') {
    entry.sparse = checked(found.map, payload, entry);
    return null;
  }
  if (payload === 0) throw mapPastData(entry);
  return { kind: 'pax-map', entry, text: sparseMapText(), realSize: found.realSize, remaining: payload, pad: -1 };
}

/**
 * Consumes the map's bytes from `chunk` at `pos`; returns where it stopped. Once the map is
 * complete (checked and set on the entry), returns it with the segment bytes that follow as
 * `dataSize`; until then `done` is null. `maxBytes` bounds the map like an extended header.
 *
 * @example
 * const r = readSparse(reading, chunk, pos, maxExt); pos = r.pos; if (r.done) emit(r.done.dataSize);
 */
export function readSparse(s: SparseReading, chunk: Buffer, pos: number, maxBytes: number): { pos: number; done: { dataSize: number } | null } {
  return s.kind === 'gnu-extension' ? readExtension(s, chunk, pos, maxBytes) : readMapText(s, chunk, pos, maxBytes);
}

/** One extension block (assembled across chunks) at a time, until one says no more follow. */
function readExtension(s: Extract<SparseReading, { kind: 'gnu-extension' }>, chunk: Buffer, pos: number, maxBytes: number): { pos: number; done: { dataSize: number } | null } {
  const n = Math.min(BLOCK_SIZE - s.fill, chunk.length - pos);
  chunk.copy(s.block, s.fill, pos, pos + n);
  pos += n;
  s.fill += n;
  if (s.fill < BLOCK_SIZE) return { pos, done: null };
  s.fill = 0;
  const at = s.entry.headerOffset;
  readGnuSparseExtension(s.block, 0, at, s.head, s.entry.path);
  s.bytes += BLOCK_SIZE;
  if (s.bytes > maxBytes) throw mapTooLarge(s.entry, maxBytes);
  if (s.head.extended) return { pos, done: null };
  s.entry.sparse = checked(gnuSparseMap(s.head), s.payload, s.entry);
  return { pos, done: { dataSize: s.payload } };
}

/** The map text at the start of a PAX 1.0 entry's data, then the zeros to its block's end. */
function readMapText(s: Extract<SparseReading, { kind: 'pax-map' }>, chunk: Buffer, pos: number, maxBytes: number): { pos: number; done: { dataSize: number } | null } {
  const at = s.entry.headerOffset;
  if (!s.text.done) {
    const stop = feedSparseMapText(s.text, chunk, pos, pos + Math.min(s.remaining, chunk.length - pos), maxBytes, s.entry.path, at);
    s.remaining -= stop - pos;
    pos = stop;
    if (!s.text.done) {
      if (s.remaining === 0) throw mapPastData(s.entry);
      return { pos, done: null };
    }
    s.pad = paddingFor(s.text.bytes);
    if (s.pad > s.remaining) throw mapPastData(s.entry);
  }
  const n = Math.min(s.pad, chunk.length - pos);
  pos += n;
  s.pad -= n;
  s.remaining -= n;
  if (s.pad > 0) return { pos, done: null };
  s.entry.sparse = checked({ format: 'pax-1.0', realSize: s.realSize, offsets: s.text.offsets, sizes: s.text.sizes }, s.remaining, s.entry);
  return { pos, done: { dataSize: s.remaining } };
}

/** The map, once checked against the entry's stored bytes. */
function checked(map: SparseMap, stored: number, entry: TarEntry): SparseMap {
  checkSparseMap(map, stored, entry.path, entry.headerOffset);
  return map;
}

function mapPastData(entry: TarEntry): ShibafuError {
  return new ShibafuError('TAR_CORRUPT', `Cannot read sparse file "${entry.path}" at byte ${entry.headerOffset}: its map runs past the entry's data`, {
    details: { offset: entry.headerOffset, path: entry.path },
    hint: 'The archive is damaged or was written by a broken tool.',
  });
}

function mapTooLarge(entry: TarEntry, maxBytes: number): ShibafuError {
  return new ShibafuError('LIMIT_EXCEEDED', `Cannot read sparse file "${entry.path}" at byte ${entry.headerOffset}: its map takes more than ${maxBytes} bytes`, {
    details: { offset: entry.headerOffset, path: entry.path, limit: maxBytes },
  });
}
