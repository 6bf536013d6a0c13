/**
 * Deterministic writer: a layer directory in overlay's on-disk format → an OCI layer tar.
 * Used by `layer seal` (hash only, for the diffId) and `layer export`, so the same tree must give
 * the same bytes every time, on every host. The rules (docs/on-disk-format.md repeats them):
 *
 *  1. Walk: depth first, each directory's children sorted by the bytes of their UTF-8 names
 *     (Buffer.compare, not JS string order), a directory's own entry before its children. The layer
 *     root itself has no entry. Paths are relative, without a leading "./"; directories end in "/".
 *  2. Overlay → OCI: a character device 0/0, or an empty file with the `trusted.overlay.whiteout`
 *     (or `user.overlay.whiteout`) xattr, becomes an empty regular file `DIR/.wh.NAME` (mode 0,
 *     uid/gid/mtime of the node), sorted under its own name NAME. A directory whose
 *     `trusted.overlay.opaque` (or `user.overlay.opaque`) is "y" gets an empty `DIR/.wh..wh..opq`
 *     (mode 0, uid/gid/mtime of the directory) right after its own entry. `trusted.overlay.*` and
 *     `user.overlay.*` xattrs are never exported; the others become PAX `SCHILY.xattr.NAME`
 *     records sorted by name. Sockets are skipped (tar cannot hold them). A real file named
 *     `.wh.*` cannot be represented in an OCI layer and is refused (TAR_UNSUPPORTED).
 *  3. Headers: magic "ustar\0", version "00"; mode = st_mode & 0o7777; numeric uid/gid; empty
 *     uname/gname; mtime = whole seconds of st_mtime, no atime/ctime; size 0 except for files;
 *     devmajor/devminor for devices, else 0. Numbers in zero-padded octal (checksum "%06o\0 ").
 *  4. PAX: one 'x' header before an entry only when needed: `path`/`linkpath` when over 100 bytes
 *     (the ustar prefix field is never used; the header keeps the name cut to 100 bytes), `uid`/`gid`
 *     above 2097151, `size` from 8 GiB, `mtime` before 1970 or after 2242 (the header field then
 *     holds 0), and the xattrs. Records in that order. The 'x' header is named
 *     `PaxHeaders/<basename>` (cut to 100 bytes), mode 0644, uid/gid/mtime 0.
 *  5. Hard links: regular files with nlink > 1 sharing (dev, ino) inside the layer: the first in walk
 *     order is a regular file, later ones are typeflag '1' entries pointing at its path, with size 0
 *     and no xattrs. Whiteouts never become hard links (overlay shares one whiteout inode).
 *  6. End: two zero blocks, no padding to a 10240-byte record.
 */
import { closeSync, constants, openSync, readdirSync, readlinkSync } from 'node:fs';
import { isResolveRefusal, openBeneath } from '../sys/openat2.js';
import { devMajor, devMinor } from '../sys/mknod.js';
import { lstatx, type StatxResult } from '../sys/statx.js';
import { isUtf8 } from 'node:buffer';
import { ShibafuError, fromSystemError } from '../errors.js';
import { isOpaqueValue, isOverlayPrivateXattr, isWhiteout, isWhiteoutXattr, OPAQUE_XATTRS } from '../format/overlay-format.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './path-safety.js';
import { flushSink, newSink, putEnd, putEntryHeader, putFileData, takeReady } from './tar-pack-writer.js';
import type { ChunkSink, PackEntry } from './tar-pack-writer.js';

/**
 * The two xattr calls the packer needs, without following symlinks (llistxattr / lgetxattr).
 * The real one lives in src/sys; tests use a fake.
 *
 * @example
 * const none: XattrReader = { list: () => [], get: () => null };
 */
export interface XattrReader {
  list(path: string): string[];
  get(path: string, name: string): Buffer | null;
}

/** Totals of one pack: tar entries written (PAX headers not counted) and tar bytes. */
export interface PackStats {
  entries: number;
  bytes: number;
}

/**
 * Changes a tree in place as it is packed, so that one walk both settles and hashes it (the commit
 * that moves a container's upper into a layer: changes/settle-upper.ts). Each call comes before
 * the node's entry is built, and the entry is built from what the call left.
 */
export interface PackSettler {
  /** Any node but a whiteout or a socket (the root too, as "."), with the names of its xattrs. */
  node(abs: string, rel: string, st: StatxResult, xattrNames: readonly string[]): void;
  /** A whiteout (0/0 character device): returns its stat as it now is. */
  whiteout(abs: string, st: StatxResult): StatxResult;
  /** A socket, which no layer holds (the packer skips them either way). */
  socket(abs: string): void;
}

export interface PackOptions {
  xattrs: XattrReader;
  settle?: PackSettler;
  signal?: AbortSignal;
  /** Called after each chunk with the running totals. */
  onProgress?: (stats: PackStats) => void;
  /** Size of the yielded chunks (default 1 MiB); the last one is shorter. */
  chunkSize?: number;
}

const NS_PER_S = 1_000_000_000n;

interface Frame {
  abs: string;
  rel: string;
  names: string[];
  next: number;
}

interface Walk {
  /** The layer root, open: file contents are read through openBeneath from it (see emitFile). */
  rootFd: number;
  xattrs: XattrReader;
  settle: PackSettler | undefined;
  sink: ChunkSink;
  stats: PackStats;
  /** "dev:ino" of multiply-linked files already written → their tar path. */
  links: Map<string, string>;
}

/**
 * Streams the OCI layer tar of `dir`, in chunks of about 1 MiB; returns the totals.
 *
 * @example
 * const hash = createHash('sha256');
 * for await (const chunk of packLayer(diffDir, { xattrs })) hash.update(chunk);
 * const diffId = `sha256:${hash.digest('hex')}`;
 */
export async function* packLayer(dir: string, opts: PackOptions): AsyncGenerator<Buffer, PackStats, undefined> {
  opts.signal?.throwIfAborted();
  const gen = packLayerSync(dir, opts);
  try {
    for (;;) {
      const next = gen.next();
      if (next.done === true) return next.value;
      yield next.value;
      opts.signal?.throwIfAborted();
    }
  } finally {
    // A consumer that stops early must not leave the current file descriptor open.
    gen.return(undefined as never);
  }
}

/**
 * The same stream, synchronously: for callers that only hash or write with sync calls and want no
 * promise per chunk. Checks `opts.signal` between chunks.
 *
 * @example
 * for (const chunk of packLayerSync(diffDir, { xattrs })) hash.update(chunk);
 */
export function* packLayerSync(dir: string, opts: PackOptions): Generator<Buffer, PackStats, undefined> {
  const sink = newSink(opts.chunkSize ?? 1024 * 1024);
  const w: Walk = { rootFd: -1, xattrs: opts.xattrs, settle: opts.settle, sink, stats: { entries: 0, bytes: 0 }, links: new Map() };
  const report = (chunk: Buffer): Buffer => {
    opts.signal?.throwIfAborted();
    w.stats.bytes += chunk.length;
    opts.onProgress?.(w.stats);
    return chunk;
  };
  try {
    for (const chunk of walkTree(dir, w)) yield report(chunk);
  } finally {
    if (w.rootFd >= 0) closeSync(w.rootFd);
  }
  putEnd(sink);
  flushSink(sink);
  for (const chunk of takeReady(sink)) yield report(chunk);
  return { ...w.stats };
}

function* walkTree(root: string, w: Walk): Generator<Buffer, void, undefined> {
  const rootStat = statOf(root, '.');
  if (rootStat.kind !== 'dir') {
    throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot pack layer "${root}": not a directory`);
  }
  try {
    w.rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    throw fromSystemError(err, `pack "${root}"`);
  }
  // An opaque layer root is legal in OCI (".wh..wh..opq" at top level), if unusual.
  if (readXattrs(w, root, '.', rootStat).opaque) emitMarker(w, OPAQUE_MARKER, rootStat);
  const stack: Frame[] = [{ abs: root, rel: '', names: listDir(root, ''), next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const name = top.names[top.next++];
    if (name === undefined) {
      stack.pop();
      continue;
    }
    const abs = `${top.abs}/${name}`;
    const rel = top.rel + name;
    const st = statOf(abs, rel);
    if (st.kind === 'dir') {
      const x = readXattrs(w, abs, rel, st);
      emit(w, base(`${rel}/`, '5', st, x.exported));
      if (x.opaque) emitMarker(w, `${rel}/${OPAQUE_MARKER}`, st);
      stack.push({ abs, rel: `${rel}/`, names: listDir(abs, `${rel}/`), next: 0 });
    } else if (st.kind === 'file') {
      yield* emitFile(w, abs, rel, st, top.rel, name);
    } else {
      emitSpecial(w, abs, rel, st, top.rel, name);
    }
    yield* takeReady(w.sink);
  }
}

function* emitFile(w: Walk, abs: string, rel: string, st: StatxResult, dirRel: string, name: string): Generator<Buffer, void, undefined> {
  const x = readXattrs(w, abs, rel, st);
  if (st.size === 0 && x.whiteout) {
    emitMarker(w, `${dirRel}${WHITEOUT_PREFIX}${name}`, st);
    return;
  }
  if (st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = w.links.get(key);
    if (first !== undefined) {
      emit(w, { ...base(rel, '1', st, []), linkpath: first });
      return;
    }
    w.links.set(key, rel);
  }
  const size = st.size;
  emit(w, { ...base(rel, '0', st, x.exported), size });
  if (size === 0) return;
  // The walk lstat'ed every directory on the way, but a directory swapped for a symlink since
  // then would take this open outside the layer: openBeneath resolves `rel` from the root fd,
  // following no symlink in any component.
  let fd: number;
  try {
    fd = openBeneath(w.rootFd, rel);
  } catch (err) {
    if (isResolveRefusal(err)) {
      throw new ShibafuError('LAYER_TAMPERED', `Cannot pack "/${rel}": a directory on its path is now a symlink (the layer changed on disk while it was read)`, {
        hint: 'Something changed the layer\'s directory behind shibafu. Re-create the layer from its source.',
        details: { path: `/${rel}` },
        cause: err,
      });
    }
    throw fromSystemError(err, `pack "${rel}"`);
  }
  try {
    yield* putFileData(w.sink, fd, size, rel);
  } finally {
    closeSync(fd);
  }
}

function emitSpecial(w: Walk, abs: string, rel: string, st: StatxResult, dirRel: string, name: string): void {
  if (isWhiteout(st)) {
    emitMarker(w, `${dirRel}${WHITEOUT_PREFIX}${name}`, w.settle?.whiteout(abs, st) ?? st);
    return;
  }
  if (st.kind === 'socket') {
    w.settle?.socket(abs);
    return;
  }
  const x = readXattrs(w, abs, rel, st);
  if (st.kind === 'symlink') {
    emit(w, { ...base(rel, '2', st, x.exported), linkpath: readLink(abs, rel) });
  } else if (st.kind === 'fifo') {
    emit(w, base(rel, '6', st, x.exported));
  } else {
    const e = base(rel, st.kind === 'char' ? '3' : '4', st, x.exported);
    e.devmajor = devMajor(st.rdev);
    e.devminor = devMinor(st.rdev);
    emit(w, e);
  }
}

function base(path: string, typeflag: string, st: StatxResult, xattrs: PackEntry['xattrs']): PackEntry {
  return {
    path,
    typeflag,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: wholeSeconds(st.mtimeNs),
    size: 0,
    linkpath: '',
    devmajor: 0,
    devminor: 0,
    xattrs,
  };
}

/** Whiteout and opaque markers: empty files, mode 0, owner and mtime of the node they stand for. */
function emitMarker(w: Walk, path: string, st: StatxResult): void {
  emit(w, { ...base(path, '0', st, []), mode: 0 });
}

function emit(w: Walk, e: PackEntry): void {
  putEntryHeader(w.sink, e);
  w.stats.entries++;
}

/** Floor division: BigInt division truncates toward zero, wrong for times before 1970. */
function wholeSeconds(ns: bigint): number {
  const q = ns / NS_PER_S;
  return Number(ns < 0n && q * NS_PER_S !== ns ? q - 1n : q);
}

function statOf(abs: string, rel: string): StatxResult {
  // statx (sys/statx.ts): exact st_ino/st_dev (XFS inode numbers pass 2^53) and exact mtime
  // seconds (a float mtimeMs can round x.999999999 up to the next second), at a fifth of the
  // cost of Node's bigint lstat: one per entry of every export, seal and commit.
  let st: StatxResult | null;
  try {
    st = lstatx(abs);
  } catch (err) {
    throw fromSystemError(err, `pack "${rel}"`);
  }
  if (st === null) throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot pack "${rel}": no such file or directory`);
  return st;
}

function listDir(abs: string, rel: string): string[] {
  let raw: Buffer[];
  try {
    raw = readdirSync(abs, { encoding: 'buffer' });
  } catch (err) {
    throw fromSystemError(err, `pack "${rel || '.'}"`);
  }
  raw.sort(Buffer.compare);
  return raw.map((b) => {
    if (!isUtf8(b)) {
      throw new ShibafuError('TAR_UNSUPPORTED', `Cannot pack "${rel}${b.toString('utf8')}": its name is not valid UTF-8`, {
        details: { dir: rel, name: b.toString('hex') },
      });
    }
    const name = b.toString('utf8');
    if (name.startsWith(WHITEOUT_PREFIX)) {
      throw new ShibafuError('TAR_UNSUPPORTED', `Cannot pack "${rel}${name}": names starting with ".wh." mean whiteouts in OCI layers`, {
        details: { path: rel + name },
      });
    }
    return name;
  });
}

function readLink(abs: string, rel: string): string {
  let target: Buffer;
  try {
    target = readlinkSync(abs, { encoding: 'buffer' });
  } catch (err) {
    throw fromSystemError(err, `pack "${rel}"`);
  }
  if (!isUtf8(target)) {
    throw new ShibafuError('TAR_UNSUPPORTED', `Cannot pack "${rel}": its symlink target is not valid UTF-8`, { details: { path: rel } });
  }
  return target.toString('utf8');
}

interface NodeXattrs {
  exported: Array<readonly [string, Buffer]>;
  opaque: boolean;
  whiteout: boolean;
}

const NO_XATTRS: NodeXattrs = { exported: [], opaque: false, whiteout: false };

function readXattrs(w: Walk, abs: string, rel: string, st: StatxResult): NodeXattrs {
  const reader = w.xattrs;
  let names: string[];
  try {
    names = reader.list(abs);
  } catch (err) {
    throw fromSystemError(err, `list the xattrs of "${rel}"`);
  }
  // Before any value is read: the settler may remove some (overlay's private ones are never read).
  w.settle?.node(abs, rel, st, names);
  if (names.length === 0) return NO_XATTRS;
  const out: NodeXattrs = { exported: [], opaque: false, whiteout: false };
  const sorted = names.map((n) => [Buffer.from(n, 'utf8'), n] as const).sort((a, b) => Buffer.compare(a[0], b[0]));
  for (const [, name] of sorted) {
    if (name === OPAQUE_XATTRS.trusted || name === OPAQUE_XATTRS.user) {
      out.opaque ||= isOpaqueValue(reader.get(abs, name));
    } else if (isWhiteoutXattr(name)) {
      out.whiteout = true;
    } else if (!isOverlayPrivateXattr(name)) {
      const value = reader.get(abs, name);
      // null: removed between list and get; the tree is supposed to be still, so skip it quietly.
      if (value !== null) out.exported.push([name, value]);
    }
  }
  return out;
}
