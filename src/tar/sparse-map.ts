/**
 * GNU sparse files in tar archives: where a file's data lies, decoded and checked before anything
 * is written. Pure. GNU tar records a map of data segments (offset, size) and the file's real
 * size; the entry's stored data is the segments' bytes one after another, and everything between
 * them is a hole (GNU tar manual, "Storing Sparse Files"; sparse.c and xheader.c of tar 1.34).
 *
 *  - old GNU (typeflag 'S', `--format=gnu|oldgnu`): four (offset, numbytes) slots in the header at
 *    byte 386, `isextended` at 482, the real size at 483; extension blocks of 21 slots (and their
 *    own `isextended` at 504) follow the header, outside the entry's size;
 *  - PAX 0.0: `GNU.sparse.size` and `GNU.sparse.numblocks`, then `GNU.sparse.offset` and
 *    `GNU.sparse.numbytes` repeated in order (the only PAX keywords that repeat);
 *  - PAX 0.1: the same pairs in one `GNU.sparse.map` = "offset,size,offset,size,...";
 *  - PAX 1.0: `GNU.sparse.major=1`, `GNU.sparse.minor=0`, `GNU.sparse.realsize`; the map is at the
 *    start of the entry's data, decimal numbers one per line (the count, then offset and size of
 *    each segment), padded with zeros to a block. 0.1 and 1.0 give the real name in
 *    `GNU.sparse.name` (the header's name is `DIR/GNUSparseFile.PID/NAME`).
 *
 * What GNU tar trusts, this checks: segments sorted and apart and inside the real size (the
 * checks of Go's archive/tar, validateSparseEntries, taken from BSD tar), adding up to the stored
 * data exactly (a map that lies would place bytes past the file or leave stored bytes unplaced);
 * and the map's own size is bounded like any extended header, so a map of a billion segments is
 * refused before it is read.
 */
import { ShibafuError } from '../errors.js';
import { forEachPaxRecord, readNumber } from './tar-header.js';

/** How the archive stored the map (for messages and tests; the file comes out the same). */
export type SparseFormat = 'gnu' | 'pax-0.0' | 'pax-0.1' | 'pax-1.0';

/** A sparse file's layout: data segments `offsets[i]`, `sizes[i]`, holes elsewhere. */
export interface SparseMap {
  readonly format: SparseFormat;
  /** The file's size once extracted (st_size): its data and its holes. */
  readonly realSize: number;
  /** Sorted, apart, each inside `realSize`; a segment may be empty (GNU tar ends maps with one). */
  readonly offsets: readonly number[];
  readonly sizes: readonly number[];
}

/** The map an old GNU 'S' header starts; extension blocks add to it while `extended`. */
export interface GnuSparseHead {
  readonly realSize: number;
  readonly offsets: number[];
  readonly sizes: number[];
  extended: boolean;
  /** An empty slot was seen: the map is over, later slots must be empty too. */
  ended: boolean;
}

const GNU_HEADER_SLOTS = 4;
const GNU_HEADER_SP = 386;
const GNU_HEADER_ISEXTENDED = 482;
const GNU_HEADER_REALSIZE = 483;
const GNU_EXT_SLOTS = 21;
const GNU_EXT_ISEXTENDED = 504;
const SLOT = 24;

const SPARSE_PREFIX = 'GNU.sparse.';

/**
 * Whether PAX records hold GNU sparse keywords: checked once per extended header, as it is
 * parsed, so that an entry without them pays one boolean test.
 *
 * @example
 * hasSparseRecords(new Map([['GNU.sparse.major', Buffer.from('1')]])) // true
 */
export function hasSparseRecords(records: ReadonlyMap<string, Buffer>): boolean {
  for (const key of records.keys()) if (key.startsWith(SPARSE_PREFIX)) return true;
  return false;
}

/**
 * The map part of an old GNU sparse header (typeflag 'S') in `buf` at `start`; `offset` is the
 * header's byte offset in the archive (for errors). Only GNU's own header layout has these fields.
 *
 * @example
 * const head = readGnuSparseHeader(block, 0, 0, 'gnu', 'holes');
 */
export function readGnuSparseHeader(buf: Buffer, start: number, offset: number, format: string, path: string): GnuSparseHead {
  if (format !== 'gnu') {
    throw new ShibafuError('TAR_UNSUPPORTED', `Cannot read sparse file "${path}" at byte ${offset}: a sparse ('S') entry outside GNU's header format`, {
      details: { offset, path },
    });
  }
  const head: GnuSparseHead = {
    realSize: readNumber(buf, start + GNU_HEADER_REALSIZE, 12, 'sparse real size', offset),
    offsets: [],
    sizes: [],
    extended: false,
    ended: false,
  };
  readSlots(buf, start + GNU_HEADER_SP, GNU_HEADER_SLOTS, offset, head, path);
  head.extended = buf[start + GNU_HEADER_ISEXTENDED] !== 0;
  checkContinuation(head, offset, path);
  return head;
}

/**
 * Adds the slots of one GNU sparse extension block (`buf` at `start`, archive byte `offset`) to
 * `head`; updates `head.extended` from the block's own flag.
 *
 * @example
 * while (head.extended) readGnuSparseExtension(nextBlock(), 0, at, head, path);
 */
export function readGnuSparseExtension(buf: Buffer, start: number, offset: number, head: GnuSparseHead, path: string): void {
  readSlots(buf, start, GNU_EXT_SLOTS, offset, head, path);
  head.extended = buf[start + GNU_EXT_ISEXTENDED] !== 0;
  checkContinuation(head, offset, path);
}

function readSlots(buf: Buffer, at: number, slots: number, offset: number, head: GnuSparseHead, path: string): void {
  for (let i = 0; i < slots; i++) {
    const slot = at + i * SLOT;
    // GNU tar ends the map at a slot whose numbytes field is empty (sparse.c, oldgnu_add_sparse).
    if (buf[slot + 12] === 0) {
      head.ended = true;
      continue;
    }
    if (head.ended) throw corrupt(path, offset, 'a map slot follows the end of the map');
    head.offsets.push(readNumber(buf, slot, 12, 'sparse offset', offset));
    head.sizes.push(readNumber(buf, slot + 12, 12, 'sparse numbytes', offset));
  }
}

function checkContinuation(head: GnuSparseHead, offset: number, path: string): void {
  if (head.extended && head.ended) throw corrupt(path, offset, 'the map ends, yet an extension block is announced');
}

/** The completed map of an old GNU sparse entry. */
export function gnuSparseMap(head: GnuSparseHead): SparseMap {
  return { format: 'gnu', realSize: head.realSize, offsets: head.offsets, sizes: head.sizes };
}

/**
 * What PAX records say of a sparse entry: its whole map (0.0, 0.1), that the map leads its data
 * (1.0), or nothing (`GNU.sparse.name` alone only names a file).
 */
export type PaxSparse =
  | { readonly kind: 'map'; readonly map: SparseMap }
  | { readonly kind: 'in-data'; readonly realSize: number }
  | { readonly kind: 'none' };

/** Keywords that make a PAX entry sparse. */
const SPARSE_KEYS = ['GNU.sparse.major', 'GNU.sparse.minor', 'GNU.sparse.size', 'GNU.sparse.realsize', 'GNU.sparse.numblocks', 'GNU.sparse.map', 'GNU.sparse.offset', 'GNU.sparse.numbytes'];

/**
 * Reads the sparse records of one entry. `pairs` are format 0.0's offset/numbytes records in
 * archive order (null when it has none); `get` reads a record's value (local before global).
 *
 * @example
 * paxSparse((k) => records.get(k), null, 0, 'holes') // { kind: 'in-data', realSize: 3145728 }
 */
export function paxSparse(get: (key: string) => Buffer | undefined, pairs: readonly number[] | null, offset: number, path: string): PaxSparse {
  if (pairs === null && !SPARSE_KEYS.some((key) => get(key) !== undefined)) return { kind: 'none' };
  const text = (key: string): string | undefined => get(key)?.toString('latin1');
  const major = text('GNU.sparse.major');
  const minor = text('GNU.sparse.minor');
  const realSizeText = text('GNU.sparse.realsize') ?? text('GNU.sparse.size');
  if (realSizeText === undefined) throw corrupt(path, offset, 'it has sparse records but no real size');
  const realSize = decimal(realSizeText, 'real size', path, offset);
  const mapText = text('GNU.sparse.map');
  if (major !== undefined || minor !== undefined) {
    if (major !== '1' || minor !== '0') {
      throw new ShibafuError('TAR_UNSUPPORTED', `Cannot read sparse file "${path}" at byte ${offset}: GNU sparse format ${major ?? '?'}.${minor ?? '?'} is not supported (0.0, 0.1 and 1.0 are)`, {
        details: { offset, path },
      });
    }
    if (mapText !== undefined || pairs !== null) throw corrupt(path, offset, 'format 1.0 keeps its map in the data, yet the records hold one too');
    return { kind: 'in-data', realSize };
  }
  let flat: readonly number[];
  let format: SparseFormat;
  if (mapText !== undefined) {
    if (pairs !== null) throw corrupt(path, offset, 'it has both a GNU.sparse.map and GNU.sparse.offset records');
    flat = mapText === '' ? [] : mapText.split(',').map((n) => decimal(n, 'map', path, offset));
    format = 'pax-0.1';
  } else if (pairs !== null) {
    flat = pairs;
    format = 'pax-0.0';
  } else {
    throw corrupt(path, offset, 'it has sparse records but no map');
  }
  if (flat.length % 2 !== 0) throw corrupt(path, offset, 'its map has an offset without a size');
  const numblocks = text('GNU.sparse.numblocks');
  if (numblocks !== undefined && decimal(numblocks, 'numblocks', path, offset) !== flat.length / 2) {
    throw corrupt(path, offset, `GNU.sparse.numblocks says ${numblocks} segments, the map has ${flat.length / 2}`);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    offsets.push(flat[i]!);
    sizes.push(flat[i + 1]!);
  }
  return { kind: 'map', map: { format, realSize, offsets, sizes } };
}

/**
 * Format 0.0's GNU.sparse.offset / GNU.sparse.numbytes records of one PAX header `body`, in order,
 * as one flat list [offset, size, offset, size, ...]; they must alternate, an offset first.
 *
 * @example
 * sparsePairs0(Buffer.from('29 GNU.sparse.offset=1048576\n25 GNU.sparse.numbytes=4\n'), 0) // [1048576, 4]
 */
export function sparsePairs0(body: Buffer, offset: number): number[] {
  const flat: number[] = [];
  forEachPaxRecord(body, offset, (key, value) => {
    const isOffset = key === 'GNU.sparse.offset';
    if (!isOffset && key !== 'GNU.sparse.numbytes') return;
    if (isOffset !== (flat.length % 2 === 0)) {
      throw corrupt('', offset, 'its GNU.sparse.offset and GNU.sparse.numbytes records do not alternate');
    }
    flat.push(decimal(value.toString('latin1'), key.slice(11), '', offset));
  });
  return flat;
}

/**
 * Checks a map against the entry: segments sorted and apart, inside the real size, their sizes
 * adding up to the `stored` data bytes exactly. Throws TAR_CORRUPT naming the first fault.
 *
 * @example
 * checkSparseMap(map, entry.size, entry.path, entry.headerOffset);
 */
export function checkSparseMap(map: SparseMap, stored: number, path: string, offset: number): void {
  const { realSize, offsets, sizes } = map;
  let end = 0;
  let total = 0;
  for (let i = 0; i < offsets.length; i++) {
    const o = offsets[i]!;
    const n = sizes[i]!;
    if (o < end) throw corrupt(path, offset, `segment ${i} at ${o} starts before the end of the one before it (${end}): segments must be sorted and apart`);
    if (o > realSize || n > realSize - o) throw corrupt(path, offset, `segment ${i} (${n} bytes at ${o}) ends past the file's real size of ${realSize} bytes`);
    end = o + n;
    total += n;
  }
  if (total !== stored) throw corrupt(path, offset, `its map places ${total} bytes, the entry stores ${stored}`);
}

/** Decoding state of a format 1.0 map (the text at the start of the data). */
export interface SparseMapText {
  /** Segments announced by the first line; -1 until it is read. */
  count: number;
  readonly offsets: number[];
  readonly sizes: number[];
  /** The number being read, and how many digits of it so far. */
  value: number;
  digits: number;
  /** An offset read, waiting for its size; -1 otherwise. */
  pending: number;
  /** Bytes of the map consumed. */
  bytes: number;
  done: boolean;
}

/** A fresh decoding state. */
export function sparseMapText(): SparseMapText {
  return { count: -1, offsets: [], sizes: [], value: 0, digits: 0, pending: -1, bytes: 0, done: false };
}

/**
 * Decodes map text from `buf[from, to)`; returns where it stopped (just after the map's last line
 * once `state.done`, else `to`). `maxBytes` bounds the map's text (LIMIT_EXCEEDED beyond), and
 * the announced count is refused at once when its lines could not fit in it.
 *
 * @example
 * const st = sparseMapText();
 * const end = feedSparseMapText(st, data, 0, data.length, 1 << 20, 'holes', 0);
 */
export function feedSparseMapText(state: SparseMapText, buf: Buffer, from: number, to: number, maxBytes: number, path: string, offset: number): number {
  let i = from;
  while (i < to && !state.done) {
    const b = buf[i++]!;
    if (b >= 0x30 && b <= 0x39) {
      state.value = state.value * 10 + (b - 0x30);
      state.digits++;
      if (!Number.isSafeInteger(state.value)) throw corrupt(path, offset, 'a number of its map is too large');
      continue;
    }
    if (b !== 0x0a || state.digits === 0) throw corrupt(path, offset, `its map holds ${b === 0x0a ? 'an empty line' : `the byte 0x${b.toString(16)}`} where a number belongs`);
    endNumber(state, maxBytes, path, offset);
  }
  state.bytes += i - from;
  if (state.bytes > maxBytes) throw mapTooLarge(path, offset, maxBytes);
  return i;
}

function endNumber(state: SparseMapText, maxBytes: number, path: string, offset: number): void {
  const v = state.value;
  state.value = 0;
  state.digits = 0;
  if (state.count < 0) {
    // Each segment takes at least four bytes ("0\n0\n").
    if (v > maxBytes / 4) throw mapTooLarge(path, offset, maxBytes);
    state.count = v;
  } else if (state.pending < 0) {
    state.pending = v;
    return;
  } else {
    state.offsets.push(state.pending);
    state.sizes.push(v);
    state.pending = -1;
  }
  if (state.offsets.length === state.count) state.done = true;
}

/** Where the next stored byte of a sparse file goes: segment `index`, `written` bytes into it. */
export interface SparseCursor {
  index: number;
  written: number;
}

/**
 * Places `length` stored bytes (the next ones of the entry's data): `write(from, n, position)`
 * for each piece, `from` counted in those bytes, `position` in the file. The map was checked
 * against the stored size, so the bytes always fit.
 *
 * @example
 * const cur = { index: 0, written: 0 };
 * placeSparse(map, cur, chunk.length, (from, n, pos) => fs.writeSync(fd, chunk, from, n, pos));
 */
export function placeSparse(map: SparseMap, cursor: SparseCursor, length: number, write: (from: number, n: number, position: number) => void): void {
  let from = 0;
  while (from < length) {
    const i = cursor.index;
    if (i >= map.sizes.length) throw new ShibafuError('INTERNAL', 'Cannot place sparse data: more bytes than the map holds');
    const n = Math.min(length - from, map.sizes[i]! - cursor.written);
    if (n > 0) write(from, n, map.offsets[i]! + cursor.written);
    from += n;
    cursor.written += n;
    if (cursor.written === map.sizes[i]) {
      cursor.index++;
      cursor.written = 0;
    }
  }
}

function decimal(text: string, what: string, path: string, offset: number): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n)) throw corrupt(path, offset, `its sparse ${what} "${text.slice(0, 40)}" is not a number`);
  return n;
}

function corrupt(path: string, offset: number, what: string): ShibafuError {
  const name = path === '' ? 'sparse file' : `sparse file "${path}"`;
  return new ShibafuError('TAR_CORRUPT', `Cannot read ${name} at byte ${offset}: ${what}`, {
    details: { offset, ...(path === '' ? {} : { path }) },
    hint: 'The archive is damaged or was written by a broken tool.',
  });
}

function mapTooLarge(path: string, offset: number, maxBytes: number): ShibafuError {
  return new ShibafuError('LIMIT_EXCEEDED', `Cannot read sparse file "${path}" at byte ${offset}: its map takes more than ${maxBytes} bytes`, {
    details: { offset, path, limit: maxBytes },
  });
}
