/**
 * The output half of the layer packer: normalized entries in, fixed-size chunks of tar bytes out.
 *
 * Headers are encoded straight into the current chunk and file data is read straight into it, so a
 * 50,000-file layer costs one buffer per MiB, not one per entry. Chunks are handed over, never
 * reused, because the consumer may still hold one (a pending write, a hash queue).
 */
import { readSync } from 'node:fs';
import { ShibafuError } from '../errors.js';
import { BLOCK_SIZE, encodeHeaderInto, encodePax, octalMax, paddingFor } from './tar-header.js';
import type { HeaderInit } from './tar-header.js';

/** One entry as it will be written; every field already normalized by the packer. */
export interface PackEntry {
  /** Relative tar path; directories end with '/'. */
  path: string;
  /** '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo. */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds. */
  mtime: number;
  size: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  /** Sorted by name in byte order, overlay's own already removed. */
  xattrs: Array<readonly [string, Buffer]>;
}

/** Chunked output buffer. `ready` holds full chunks the caller has not yet taken. */
export interface ChunkSink {
  chunkSize: number;
  buf: Buffer;
  len: number;
  ready: Buffer[];
  /** Total bytes written so far. */
  bytes: number;
}

/**
 * A sink that cuts the output into `chunkSize`-byte chunks.
 *
 * @example
 * const sink = newSink(1 << 20);
 */
export function newSink(chunkSize: number): ChunkSink {
  return { chunkSize, buf: Buffer.allocUnsafe(chunkSize), len: 0, ready: [], bytes: 0 };
}

/** Moves the filled part of the current chunk to `ready` (no-op when empty). */
export function flushSink(sink: ChunkSink): void {
  if (sink.len === 0) return;
  sink.ready.push(sink.len === sink.buf.length ? sink.buf : sink.buf.subarray(0, sink.len));
  sink.buf = Buffer.allocUnsafe(sink.chunkSize);
  sink.len = 0;
}

function putBytes(sink: ChunkSink, bytes: Buffer): void {
  let from = 0;
  while (from < bytes.length) {
    const n = Math.min(bytes.length - from, sink.buf.length - sink.len);
    bytes.copy(sink.buf, sink.len, from, from + n);
    sink.len += n;
    sink.bytes += n;
    from += n;
    if (sink.len === sink.buf.length) flushSink(sink);
  }
}

function putZeros(sink: ChunkSink, count: number): void {
  let left = count;
  while (left > 0) {
    const n = Math.min(left, sink.buf.length - sink.len);
    sink.buf.fill(0, sink.len, sink.len + n);
    sink.len += n;
    sink.bytes += n;
    left -= n;
    if (sink.len === sink.buf.length) flushSink(sink);
  }
}

const scratch = Buffer.alloc(BLOCK_SIZE);

function putHeader(sink: ChunkSink, h: HeaderInit): void {
  if (sink.buf.length - sink.len >= BLOCK_SIZE) {
    encodeHeaderInto(h, sink.buf, sink.len);
    sink.len += BLOCK_SIZE;
    sink.bytes += BLOCK_SIZE;
    if (sink.len === sink.buf.length) flushSink(sink);
  } else {
    encodeHeaderInto(h, scratch, 0);
    putBytes(sink, scratch);
  }
}

/** Cuts a string to at most `max` UTF-8 bytes without splitting a character. */
function truncateUtf8(s: string, max: number): string {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= max) return s;
  let cut = max;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return bytes.toString('utf8', 0, cut);
}

function baseName(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/**
 * Writes the header(s) of one entry: a PAX 'x' header first when a value does not fit ustar
 * (name or link name over 100 bytes, uid/gid over 2097151, size of 8 GiB or more, mtime outside
 * 0..8^11-1, any xattr), then the ustar header with those fields set to the truncated name or 0.
 *
 * @example
 * putEntryHeader(sink, { path: 'etc/', typeflag: '5', mode: 0o755, uid: 0, gid: 0, mtime: 0,
 *   size: 0, linkpath: '', devmajor: 0, devminor: 0, xattrs: [] });
 */
export function putEntryHeader(sink: ChunkSink, e: PackEntry): void {
  const records: Array<readonly [string, string | Buffer]> = [];
  const pathFits = Buffer.byteLength(e.path, 'utf8') <= 100;
  const linkFits = Buffer.byteLength(e.linkpath, 'utf8') <= 100;
  const uidFits = e.uid >= 0 && e.uid <= octalMax(8);
  const gidFits = e.gid >= 0 && e.gid <= octalMax(8);
  const sizeFits = e.size <= octalMax(12);
  const mtimeFits = e.mtime >= 0 && e.mtime <= octalMax(12);
  if (!pathFits) records.push(['path', e.path]);
  if (!linkFits) records.push(['linkpath', e.linkpath]);
  if (!uidFits) records.push(['uid', String(e.uid)]);
  if (!gidFits) records.push(['gid', String(e.gid)]);
  if (!sizeFits) records.push(['size', String(e.size)]);
  if (!mtimeFits) records.push(['mtime', String(e.mtime)]);
  for (const [name, value] of e.xattrs) records.push([`SCHILY.xattr.${name}`, value]);
  if (records.length > 0) {
    const body = encodePax(records);
    // Fixed name and metadata so the same tree always gives the same bytes.
    putHeader(sink, {
      name: truncateUtf8(`PaxHeaders/${baseName(e.path)}`, 100),
      typeflag: 'x',
      mode: 0o644,
      size: body.length,
    });
    putBytes(sink, body);
    putZeros(sink, paddingFor(body.length));
  }
  putHeader(sink, {
    name: pathFits ? e.path : truncateUtf8(e.path, 100),
    typeflag: e.typeflag,
    mode: e.mode,
    uid: uidFits ? e.uid : 0,
    gid: gidFits ? e.gid : 0,
    size: sizeFits ? e.size : 0,
    mtime: mtimeFits ? e.mtime : 0,
    linkname: linkFits ? e.linkpath : truncateUtf8(e.linkpath, 100),
    devmajor: e.devmajor,
    devminor: e.devminor,
  });
}

/**
 * Copies `size` bytes of an open file into the sink, then the padding, yielding each chunk as it
 * fills so a large file never sits in memory. Fails if the file is shorter than `size` (it changed
 * after it was stat'ed), since the header already promised `size` bytes.
 *
 * @example
 * yield* putFileData(sink, fd, st.size, 'usr/bin/env');
 */
export function* putFileData(sink: ChunkSink, fd: number, size: number, path: string): Generator<Buffer, void, undefined> {
  let pos = 0;
  while (pos < size) {
    const want = Math.min(size - pos, sink.buf.length - sink.len);
    const got = readSync(fd, sink.buf, sink.len, want, pos);
    if (got === 0) {
      throw new ShibafuError('IO_ERROR', `Cannot pack "${path}": the file shrank from ${size} to ${pos} bytes while it was read`, {
        details: { path, size, read: pos },
        hint: 'Layers must not change while they are exported.',
      });
    }
    sink.len += got;
    sink.bytes += got;
    pos += got;
    if (sink.len === sink.buf.length) {
      flushSink(sink);
      yield* takeReady(sink);
    }
  }
  putZeros(sink, paddingFor(size));
}

/** Writes the end-of-archive marker: two zero blocks, and no blocking-factor padding. */
export function putEnd(sink: ChunkSink): void {
  putZeros(sink, 2 * BLOCK_SIZE);
}

/**
 * Yields and forgets the full chunks waiting in the sink.
 *
 * @example
 * yield* takeReady(sink);
 */
export function* takeReady(sink: ChunkSink): Generator<Buffer, void, undefined> {
  while (sink.ready.length > 0) {
    const chunks = sink.ready;
    sink.ready = [];
    yield* chunks;
  }
}
