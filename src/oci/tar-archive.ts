/**
 * Random access to the members of a tar file (an oci-archive, a docker-archive): one pass over
 * the headers alone, seeking past every member's data, then reads at known offsets. An image
 * archive's blobs are read in the order its manifests name them, not the order it stores them.
 *
 * Paths are normalized (`./a//b/` is `a/b`); symbolic and hard links between members (the legacy
 * layout of `docker save`: `<id>/layer.tar -> ../<hex>.tar`) are followed inside the archive, and a
 * path or link leaving it is ARCHIVE_INVALID.
 */
import * as fs from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { ShibafuError, fromSystemError } from '../errors.js';
import { BLOCK_SIZE, decodeHeader, paddingFor, parsePax } from '../tar/tar-header.js';
import { payloadSize, resolveEntry, type PendingExtensions } from '../tar/tar-entry.js';

interface Member {
  readonly type: 'file' | 'dir' | 'symlink' | 'link' | 'other';
  /** Where the member's data starts, and how long it is. */
  readonly offset: number;
  readonly size: number;
  readonly link: string;
}

/** An image archive is a few files per image: more than this many members is not one. */
const MAX_MEMBERS = 1_000_000;
const MAX_EXTENSION = 1024 * 1024;
const MAX_LINK_HOPS = 16;

export class TarArchive {
  readonly path: string;
  readonly #fd: number;
  readonly #members: Map<string, Member>;

  private constructor(path: string, fd: number, members: Map<string, Member>) {
    this.path = path;
    this.#fd = fd;
    this.#members = members;
  }

  /**
   * Indexes the archive at `path`. ARCHIVE_INVALID when it is not a tar.
   *
   * @example
   * const a = TarArchive.open('/tmp/busybox.tar'); try { a.read('manifest.json', 1 << 20) } finally { a.close(); }
   */
  static open(path: string): TarArchive {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      throw fromSystemError(err, `open ${path}`);
    }
    try {
      return new TarArchive(path, fd, indexMembers(fd, path));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Whether the archive holds a regular file (after links) at `name`. */
  has(name: string): boolean {
    return this.#find(name) !== undefined;
  }

  /** Member names (normalized), for error messages and detection. */
  names(): string[] {
    return [...this.#members.keys()];
  }

  /** The size of the file at `name`. */
  size(name: string): number {
    return this.#file(name).size;
  }

  /** The whole file at `name`; ARCHIVE_INVALID above `max` bytes (manifests and configs are small). */
  read(name: string, max: number): Buffer {
    const m = this.#file(name);
    if (m.size > max) throw bad(this.path, `"${name}" is ${m.size} bytes, more than the ${max} a manifest or config may be`);
    return this.slice(name, 0, m.size);
  }

  /** Up to `length` bytes of the file at `name` from `start`. */
  slice(name: string, start: number, length: number): Buffer {
    const m = this.#file(name);
    const len = Math.max(0, Math.min(length, m.size - start));
    const buf = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const n = fs.readSync(this.#fd, buf, done, len - done, m.offset + start + done);
      if (n === 0) throw bad(this.path, `"${name}" is cut short`);
      done += n;
    }
    return buf;
  }

  /** A stream of the file at `name`. */
  open(name: string): Readable {
    const m = this.#file(name);
    if (m.size === 0) return Readable.from([]);
    return fs.createReadStream(this.path, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 }) as Readable;
  }

  close(): void {
    fs.closeSync(this.#fd);
  }

  #file(name: string): Member {
    const m = this.#find(name);
    if (m === undefined) throw bad(this.path, `it has no file "${name}"`);
    return m;
  }

  /** The regular file `name` names, links followed; undefined for none (or a directory). */
  #find(name: string): Member | undefined {
    let path = normalize(name, this.path);
    for (let hops = 0; ; hops++) {
      const m = this.#members.get(path);
      if (m === undefined || m.type === 'file') return m;
      if (m.type !== 'symlink' && m.type !== 'link') return undefined;
      if (hops >= MAX_LINK_HOPS) throw bad(this.path, `"${name}" is a chain of more than ${MAX_LINK_HOPS} links`);
      // A symlink is relative to its directory; a hard link names a member from the archive's root.
      path = normalize(m.type === 'symlink' && !m.link.startsWith('/') ? posix.join(posix.dirname(path), m.link) : m.link, this.path);
    }
  }
}

function bad(path: string, why: string): ShibafuError {
  return new ShibafuError('ARCHIVE_INVALID', `Cannot read image archive ${path}: ${why}`, {
    hint: 'Give an OCI layout directory, an oci-archive or a docker-archive (podman save, skopeo copy, docker save).',
  });
}

/** `./a//b/` → `a/b`; ARCHIVE_INVALID for a path that leaves the archive's root. */
function normalize(name: string, archive: string): string {
  const n = posix.normalize(name).replace(/\/+$/, '');
  if (n.startsWith('/') || n.startsWith('../') || n === '..') throw bad(archive, `the path "${name}" leads out of the archive`);
  return n === '.' ? '' : n;
}

function indexMembers(fd: number, path: string): Map<string, Member> {
  const members = new Map<string, Member>();
  const block = Buffer.alloc(BLOCK_SIZE);
  const pending: PendingExtensions = { global: null, local: null, longName: null, longLink: null, sparse: false, sparsePairs: null };
  const size = fs.fstatSync(fd).size;
  let at = 0;
  const readAt = (buf: Buffer, pos: number): void => {
    if (pos + buf.length > size || fs.readSync(fd, buf, 0, buf.length, pos) !== buf.length) throw bad(path, `it is cut short at byte ${pos}`);
  };
  for (;;) {
    if (at + BLOCK_SIZE > size) {
      if (members.size === 0) throw bad(path, 'it is not a tar archive');
      return members; // no end-of-archive blocks: GNU tar accepts it, so does this
    }
    readAt(block, at);
    let h;
    try {
      h = decodeHeader(block, at);
    } catch {
      throw bad(path, members.size === 0 ? 'it is not a tar archive' : `the header at byte ${at} is damaged`);
    }
    if (h === null) return members;
    const t = h.typeflag;
    if (t === 'x' || t === 'g' || t === 'L' || t === 'K') {
      if (h.size > MAX_EXTENSION) throw bad(path, `an extended header of ${h.size} bytes at byte ${at}`);
      const data = Buffer.alloc(h.size);
      readAt(data, at + BLOCK_SIZE);
      if (t === 'x') pending.local = parsePax(data, at);
      else if (t === 'g') pending.global = parsePax(data, at);
      else if (t === 'L') pending.longName = untilNul(data);
      else pending.longLink = untilNul(data);
      at += BLOCK_SIZE + h.size + paddingFor(h.size);
      continue;
    }
    let entry;
    let payload;
    try {
      entry = resolveEntry(h, pending, at);
      payload = payloadSize(h, pending, at);
    } catch (err) {
      throw bad(path, `the member at byte ${at}: ${(err as Error).message}`);
    }
    pending.local = null;
    pending.longName = null;
    pending.longLink = null;
    if (members.size >= MAX_MEMBERS) throw bad(path, `more than ${MAX_MEMBERS} members`);
    const type = entry.type === 'file' || entry.type === 'dir' || entry.type === 'symlink' || entry.type === 'link' ? entry.type : 'other';
    members.set(normalize(entry.path, path), { type, offset: at + BLOCK_SIZE, size: type === 'file' ? payload : 0, link: entry.linkpath });
    at += BLOCK_SIZE + payload + paddingFor(payload);
  }
}

function untilNul(b: Buffer): Buffer {
  const i = b.indexOf(0);
  return i < 0 ? b : b.subarray(0, i);
}
