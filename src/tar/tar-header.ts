/**
 * Pure codec of one 512-byte tar header block (POSIX ustar, GNU and old v7 layouts).
 *
 * Field layout (POSIX.1-2017 pax "ustar Interchange Format"): name 0..100, mode 100..108, uid 108..116,
 * gid 116..124, size 124..136, mtime 136..148, chksum 148..156, typeflag 156, linkname 157..257,
 * magic 257..263, version 263..265, uname 265..297, gname 297..329, devmajor 329..337,
 * devminor 337..345, prefix 345..500. GNU tar's own format ("ustar  \0") reuses 345..500 for
 * atime/ctime/sparse maps, so `prefix` is only read from POSIX ustar headers.
 *
 * Text fields are decoded as UTF-8. Whether a name field was valid UTF-8 is reported (`nameUtf8`,
 * `linknameUtf8`) rather than enforced here, because the names of PAX and GNU long-name headers are
 * never used and GNU tar may cut them in the middle of a character.
 */
import { isUtf8 } from 'node:buffer';
import { ShibafuError } from '../errors.js';

/** Tar's unit: every header and every data run is padded to 512 bytes. */
export const BLOCK_SIZE = 512;

/** Which header layout a block uses, from its magic field. */
export type HeaderFormat = 'ustar' | 'gnu' | 'v7';

/** One header block as written, before PAX / GNU long names are applied. */
export interface RawHeader {
  name: string;
  /** The full mode field; may carry S_IFMT bits from some writers (mask with 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; negative only through base-256. */
  mtime: number;
  /** One character; '\0' for old-style regular files. */
  typeflag: string;
  linkname: string;
  format: HeaderFormat;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** POSIX ustar only; '' otherwise. Joined to `name` with a '/' by the reader. */
  prefix: string;
  /** False when `name` or `prefix` held bytes that are not valid UTF-8. */
  nameUtf8: boolean;
  /** False when `linkname` held bytes that are not valid UTF-8. */
  linknameUtf8: boolean;
}

/** What `encodeHeader` needs; omitted numbers are 0, omitted strings empty, format 'ustar'. */
export interface HeaderInit {
  name: string;
  typeflag: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  prefix?: string;
  format?: 'ustar' | 'gnu';
}

const CHKSUM_OFF = 148;
const GNU_MAGIC = 'ustar  \0';

/**
 * Decodes one header block; `null` for an all-zero block (the end-of-archive marker).
 * `offset` is the block's byte offset in the archive, used in error messages only.
 *
 * The checksum is accepted as the unsigned or the signed byte sum, as GNU tar does, because some
 * historic writers summed signed chars.
 *
 * @example
 * const h = decodeHeader(archive.subarray(0, 512), 0);
 * if (h !== null) console.log(h.name, h.size);
 */
export function decodeHeader(block: Buffer, offset = 0): RawHeader | null {
  if (block.length !== BLOCK_SIZE) {
    throw new ShibafuError('INTERNAL', `Cannot decode tar header at byte ${offset}: block is ${block.length} bytes`);
  }
  return decodeHeaderAt(block, 0, offset);
}

/**
 * `decodeHeader` of the block at `buf[start .. start + 512]`, without making a view of it: the
 * parser decodes headers in place in its input chunks, tens of thousands per archive.
 *
 * @example
 * const h = decodeHeaderAt(chunk, pos, archiveOffset);
 */
export function decodeHeaderAt(buf: Buffer, start: number, offset: number): RawHeader | null {
  if (start < 0 || start + BLOCK_SIZE > buf.length) {
    throw new ShibafuError('INTERNAL', `Cannot decode tar header at byte ${offset}: fewer than 512 bytes given`);
  }
  const sums = byteSums(buf, start);
  let unsigned = sums.sum;
  let high = sums.high;
  if (unsigned === 0) return null;
  // The sums are defined with the checksum field itself read as eight spaces.
  let stored = 0;
  for (let i = start + CHKSUM_OFF; i < start + CHKSUM_OFF + 8; i++) {
    const b = buf[i]!;
    stored += b;
    if (b >= 0x80) high--;
  }
  unsigned = unsigned - stored + 8 * 0x20;
  const signed = unsigned - 256 * high;
  const want = readNumber(buf, start + CHKSUM_OFF, 8, 'checksum', offset);
  if (want !== unsigned && want !== signed) {
    throw new ShibafuError(
      'TAR_CORRUPT',
      `Cannot read tar header at byte ${offset}: checksum mismatch (stored ${want}, computed ${unsigned})`,
      { details: { offset }, hint: 'The archive is damaged or is not a tar file.' },
    );
  }
  return decodeFields(buf, start, offset);
}

const sumsOut = { sum: 0, high: 0 };

/**
 * Sum of the 512 bytes and count of bytes >= 0x80, four bytes at a time (SWAR): per 32-bit word,
 * the even and odd bytes add into two pairs of 16-bit lanes (128 words x 255 fits a lane), and the
 * top bits into four 8-bit lanes. Measured 4x faster than a byte loop; it is the parser's hot spot.
 */
function byteSums(buf: Buffer, start: number): { sum: number; high: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset + start, BLOCK_SIZE);
  let even = 0;
  let odd = 0;
  let tops = 0;
  for (let i = 0; i < BLOCK_SIZE; i += 4) {
    const w = dv.getInt32(i, true);
    even += w & 0x00ff00ff;
    odd += (w >>> 8) & 0x00ff00ff;
    tops += (w >>> 7) & 0x01010101;
  }
  sumsOut.sum = (even & 0xffff) + (even >>> 16) + (odd & 0xffff) + (odd >>> 16);
  sumsOut.high = (tops & 0xff) + ((tops >>> 8) & 0xff) + ((tops >>> 16) & 0xff) + (tops >>> 24);
  return sumsOut;
}

function decodeFields(b: Buffer, at: number, offset: number): RawHeader {
  const format = headerFormat(b, at);
  const v7 = format === 'v7';
  const name = readText(b, at, 100);
  const linkname = readText(b, at + 157, 100);
  const prefix = format === 'ustar' ? readText(b, at + 345, 155) : '';
  return {
    name,
    mode: readNumber(b, at + 100, 8, 'mode', offset),
    uid: readNumber(b, at + 108, 8, 'uid', offset),
    gid: readNumber(b, at + 116, 8, 'gid', offset),
    size: readNumber(b, at + 124, 12, 'size', offset),
    mtime: readNumber(b, at + 136, 12, 'mtime', offset),
    typeflag: String.fromCharCode(b[at + 156]!),
    linkname,
    format,
    uname: v7 ? '' : readText(b, at + 265, 32),
    gname: v7 ? '' : readText(b, at + 297, 32),
    devmajor: v7 ? 0 : readNumber(b, at + 329, 8, 'devmajor', offset),
    devminor: v7 ? 0 : readNumber(b, at + 337, 8, 'devminor', offset),
    prefix,
    nameUtf8: textIsUtf8(b, at, 100, name) && textIsUtf8(b, at + 345, 155, prefix),
    linknameUtf8: textIsUtf8(b, at + 157, 100, linkname),
  };
}

function headerFormat(b: Buffer, at: number): HeaderFormat {
  // "ustar\0" + "00" is POSIX; "ustar " + " \0" is GNU; anything else is treated as pre-POSIX.
  const m = at + 257;
  if (b[m] === 0x75 && b[m + 1] === 0x73 && b[m + 2] === 0x74 && b[m + 3] === 0x61 && b[m + 4] === 0x72) {
    if (b[m + 5] === 0) return 'ustar';
    if (b[m + 5] === 0x20 && b[m + 6] === 0x20 && b[m + 7] === 0) return 'gnu';
  }
  return 'v7';
}

/** Length of a NUL-terminated field (the whole field when it has no NUL). */
function fieldEnd(block: Buffer, start: number, len: number): number {
  const stop = start + len;
  for (let i = start; i < stop; i++) if (block[i] === 0) return i;
  return stop;
}

function readText(block: Buffer, start: number, len: number): string {
  const end = fieldEnd(block, start, len);
  return end === start ? '' : block.toString('utf8', start, end);
}

function textIsUtf8(block: Buffer, start: number, len: number, decoded: string): boolean {
  // U+FFFD is what invalid bytes decode to; only then is the exact (native) check needed.
  if (!decoded.includes('\uFFFD')) return true;
  return isUtf8(block.subarray(start, fieldEnd(block, start, len)));
}

/**
 * Reads an octal (leading spaces/NULs, terminated by space or NUL) or GNU base-256 numeric field.
 * Base-256 (high bit of the first byte set) is how GNU tar stores values that overflow octal:
 * uids above 2097151, sizes of 8 GiB and more, dates before 1970. `field` and `offset` (the
 * block's byte offset in the archive) name it in errors.
 *
 * @example
 * readNumber(block, at + 124, 12, 'size', offset)
 */
export function readNumber(block: Buffer, start: number, len: number, field: string, offset: number): number {
  const first = block[start]!;
  if (first & 0x80) return readBase256(block, start, len, field, offset);
  let i = start;
  const stop = start + len;
  while (i < stop && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  for (; i < stop; i++) {
    const b = block[i]!;
    if (b >= 0x30 && b <= 0x37) {
      value = value * 8 + (b - 0x30);
    } else if (b === 0x20 || b === 0) {
      break;
    } else {
      throw badNumber(field, offset);
    }
  }
  // Only trailing spaces and NULs may follow the digits.
  for (; i < stop; i++) if (block[i] !== 0x20 && block[i] !== 0) throw badNumber(field, offset);
  return value;
}

function readBase256(block: Buffer, start: number, len: number, field: string, offset: number): number {
  const negative = (block[start]! & 0x40) !== 0;
  // Two's complement over the field with the marker bit standing for the sign extension.
  let value = negative ? 255 - block[start]! : block[start]! & 0x7f;
  for (let i = start + 1; i < start + len; i++) {
    const b = negative ? 255 - block[i]! : block[i]!;
    if (value > (Number.MAX_SAFE_INTEGER - b) / 256) {
      throw new ShibafuError(
        'LIMIT_EXCEEDED',
        `Cannot read tar header at byte ${offset}: the ${field} field exceeds 2^53`,
        { details: { offset, field } },
      );
    }
    value = value * 256 + b;
  }
  return negative ? -(value + 1) : value;
}

function badNumber(field: string, offset: number): ShibafuError {
  return new ShibafuError('TAR_CORRUPT', `Cannot read tar header at byte ${offset}: the ${field} field is not a number`, {
    details: { offset, field },
    hint: 'The archive is damaged or is not a tar file.',
  });
}

/**
 * Encodes one header block. Names must fit their fields (100 bytes for name and linkname, 155 for
 * prefix, 32 for uname/gname): long names belong in PAX records, which the caller writes first.
 * Numbers that overflow their octal field are written in GNU base-256.
 *
 * @example
 * const block = encodeHeader({ name: 'etc/', typeflag: '5', mode: 0o755, mtime: 1700000000 });
 */
export function encodeHeader(h: HeaderInit): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  encodeHeaderInto(h, block, 0);
  return block;
}

/**
 * Like `encodeHeader`, into `target` at `at` (the 512 bytes there are overwritten), so a writer can
 * build headers straight into its output buffer.
 *
 * @example
 * encodeHeaderInto({ name: 'a', typeflag: '0', size: 3 }, out, 0);
 */
export function encodeHeaderInto(h: HeaderInit, target: Buffer, at: number): void {
  target.fill(0, at, at + BLOCK_SIZE);
  writeText(target, at, 100, h.name, 'name');
  writeNumber(target, at + 100, 8, h.mode ?? 0);
  writeNumber(target, at + 108, 8, h.uid ?? 0);
  writeNumber(target, at + 116, 8, h.gid ?? 0);
  writeNumber(target, at + 124, 12, h.size ?? 0);
  writeNumber(target, at + 136, 12, h.mtime ?? 0);
  if (h.typeflag.length !== 1) {
    throw new ShibafuError('INTERNAL', `Cannot encode tar header for "${h.name}": typeflag must be one character`);
  }
  target[at + 156] = h.typeflag.charCodeAt(0);
  writeText(target, at + 157, 100, h.linkname ?? '', 'linkname');
  if (h.format === 'gnu') {
    target.write(GNU_MAGIC, at + 257, 8, 'latin1');
  } else {
    target.write('ustar\x0000', at + 257, 8, 'latin1');
  }
  writeText(target, at + 265, 32, h.uname ?? '', 'uname');
  writeText(target, at + 297, 32, h.gname ?? '', 'gname');
  writeNumber(target, at + 329, 8, h.devmajor ?? 0);
  writeNumber(target, at + 337, 8, h.devminor ?? 0);
  if (h.format === 'gnu') {
    if (h.prefix) throw new ShibafuError('INTERNAL', 'Cannot encode a prefix in a GNU-format tar header');
  } else {
    writeText(target, at + 345, 155, h.prefix ?? '', 'prefix');
  }
  let sum = 8 * 0x20;
  for (let i = at; i < at + BLOCK_SIZE; i++) sum += target[i]!;
  // GNU tar's layout: six octal digits, NUL, space.
  target.write(sum.toString(8).padStart(6, '0'), at + CHKSUM_OFF, 6, 'latin1');
  target[at + CHKSUM_OFF + 6] = 0;
  target[at + CHKSUM_OFF + 7] = 0x20;
}

function writeText(target: Buffer, at: number, len: number, value: string, field: string): void {
  if (value === '') return;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > len) {
    throw new ShibafuError(
      'TAR_UNSUPPORTED',
      `Cannot encode tar header: ${field} "${value}" is ${bytes} bytes, the field holds ${len}`,
      { details: { field, bytes } },
    );
  }
  target.write(value, at, len, 'utf8');
}

/** Largest value of an octal field of `len` bytes (len - 1 digits and a NUL). */
export function octalMax(len: number): number {
  return 8 ** (len - 1) - 1;
}

function writeNumber(target: Buffer, at: number, len: number, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new ShibafuError('INTERNAL', `Cannot encode tar numeric field: ${value} is not a safe integer`);
  }
  if (value >= 0 && value <= octalMax(len)) {
    target.write(value.toString(8).padStart(len - 1, '0'), at, len - 1, 'latin1');
    target[at + len - 1] = 0;
    return;
  }
  // GNU base-256: big-endian two's complement, first byte 0x80 (positive) or 0xff (negative).
  let v = value;
  for (let i = at + len - 1; i > at; i--) {
    const byte = ((v % 256) + 256) % 256;
    target[i] = byte;
    v = (v - byte) / 256;
  }
  target[at] = value < 0 ? 0xff : 0x80;
}

/** Zero bytes that follow `size` bytes of data to reach the next block boundary. */
export function paddingFor(size: number): number {
  const rem = size % BLOCK_SIZE;
  return rem === 0 ? 0 : BLOCK_SIZE - rem;
}

/**
 * Parses the body of a PAX extended header ('x' or 'g'): records `"%d %s=%s\n"` where the decimal
 * length counts the whole record, itself included. Later records override earlier ones. Values stay
 * bytes (xattr values are binary); an empty value is kept (POSIX: it unsets the keyword).
 * Trailing NUL bytes after the last record are tolerated, as some writers pad the body.
 *
 * @example
 * parsePax(Buffer.from('11 path=a\n')).get('path')?.toString() === 'a'
 */
export function parsePax(buf: Buffer, offset = 0): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  forEachPaxRecord(buf, offset, (key, value) => records.set(key, value));
  return records;
}

/**
 * Calls `fn` for every record of a PAX extended header body, in order, duplicates included: what
 * the one keyword pair that repeats needs (GNU sparse format 0.0's `GNU.sparse.offset` and
 * `GNU.sparse.numbytes`). Same grammar and errors as `parsePax`.
 *
 * @example
 * forEachPaxRecord(body, 0, (key, value) => console.log(key, value.toString()));
 */
export function forEachPaxRecord(buf: Buffer, offset: number, fn: (key: string, value: Buffer) => void): void {
  let i = 0;
  while (i < buf.length) {
    if (buf[i] === 0) {
      for (let k = i; k < buf.length; k++) if (buf[k] !== 0) throw badPax(offset, i);
      break;
    }
    let j = i;
    let len = 0;
    while (j < buf.length && buf[j]! >= 0x30 && buf[j]! <= 0x39) {
      len = len * 10 + (buf[j]! - 0x30);
      if (len > buf.length) throw badPax(offset, i);
      j++;
    }
    const end = i + len;
    // Shortest valid record: its length digits, a space, one key byte, '=', '\n'.
    if (j === i || buf[j] !== 0x20 || len < j - i + 4 || end > buf.length || buf[end - 1] !== 0x0a) {
      throw badPax(offset, i);
    }
    const eq = buf.indexOf(0x3d, j + 1);
    if (eq < 0 || eq >= end - 1 || eq === j + 1) throw badPax(offset, i);
    fn(buf.toString('utf8', j + 1, eq), buf.subarray(eq + 1, end - 1));
    i = end;
  }
}

function badPax(offset: number, at: number): ShibafuError {
  return new ShibafuError('TAR_CORRUPT', `Cannot read PAX extended header at byte ${offset}: malformed record at byte ${at} of its data`, {
    details: { offset, at },
    hint: 'The archive is damaged or was written by a broken tool.',
  });
}

/**
 * Encodes PAX records in the order given. The length prefix counts itself, so a record whose other
 * parts take 97 bytes is "99 ...", and one whose other parts take 98 bytes is "101 ..." (100 would
 * need three digits, making the record 101 bytes long).
 *
 * @example
 * encodePax([['path', 'a'.repeat(200)], ['SCHILY.xattr.user.k', Buffer.from([0, 1])]])
 */
export function encodePax(records: Iterable<readonly [string, string | Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw new ShibafuError('INTERNAL', `Cannot encode PAX record: invalid keyword "${key}"`);
    }
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const base = Buffer.byteLength(key, 'utf8') + v.length + 3;
    let len = base + String(base).length;
    while (base + String(len).length !== len) len = base + String(len).length;
    parts.push(Buffer.from(`${len} ${key}=`, 'utf8'), v, NEWLINE);
  }
  return Buffer.concat(parts);
}

const NEWLINE = Buffer.from('\n');
