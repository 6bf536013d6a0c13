/**
 * The narrow file-system port the change tracker reads through (STYLE.md: narrow ports). The
 * diff logic in this folder never touches `node:fs` itself, so unit tests run it on an in-memory
 * fake (src/changes/fake-tree-fs.ts) and the real-kernel tests on overlay uppers and mounts.
 */
import * as fs from 'node:fs';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { errnoCode, fromSystemError } from '../errors.js';
import { DEFAULT_OVERLAY_NAMESPACE, isOpaque, isOverlayPrivateXattr } from '../format/overlay-format.js';
import { kindOfMode, lstatx, type FileKind, type StatxResult } from '../sys/statx.js';

export type NodeKind = FileKind;

/** What the change tracker needs of lstat(2). */
export interface NodeInfo {
  readonly kind: NodeKind;
  /** Permission bits with setuid/setgid/sticky (st_mode & 07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** st_size: content bytes of a file, target length of a symlink. */
  readonly size: number;
  /** st_mtime in nanoseconds (compared in whole seconds, the resolution a layer tar keeps). */
  readonly mtimeNs: bigint;
  readonly rdev: number;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly nlink: number;
}

/**
 * The file-system calls the change tracker makes, without following symlinks.
 *
 * @example
 * const info = treeFs.lstat('/var/lib/shibafu/layers/ab/diff/etc'); // null when absent
 */
export interface TreeFs {
  /** lstat(2); null when the path does not exist (ENOENT, ENOTDIR). */
  lstat(path: string): NodeInfo | null;
  /** Entry names of a directory (any order); [] when it vanished. */
  readdir(path: string): string[];
  readlink(path: string): string;
  /** Names of the node's own extended attributes (overlay's private ones included). */
  xattrNames(path: string): string[];
  /** One extended attribute of the node itself; null when it has none of that name. */
  xattr(path: string, name: string): Buffer | null;
  /** Whether two regular files of `size` bytes hold the same bytes. */
  sameContent(a: string, b: string, size: number): boolean;
}

/** The two xattr calls the real port needs (a subset of the store's XattrPort). */
export interface XattrSource {
  llistxattr(path: string): string[];
  lgetxattr(path: string, name: string): Buffer | null;
}

/**
 * True when the directory is opaque in the store's namespace (`trusted.overlay.opaque` = "y"): one
 * lgetxattr, no listing. The trees read this way (layer dirs, the store's uppers) were written by
 * the store as root, so the user namespace is not asked: a second lgetxattr per directory lookup.
 *
 * @example
 * isOpaqueDir(treeFs, `${upper}/opt/o`) // true after `rm -rf /opt/o; mkdir /opt/o`
 */
export function isOpaqueDir(fs: TreeFs, path: string): boolean {
  return isOpaque((name) => fs.xattr(path, name), DEFAULT_OVERLAY_NAMESPACE);
}

/**
 * The xattrs that belong to a layer's content, names sorted: overlay's private ones (origin,
 * impure, opaque, ...) left out, and their values never read.
 *
 * @example
 * publicXattrs(treeFs, path) // [['security.capability', <Buffer ...>]]
 */
export function publicXattrs(fs: TreeFs, path: string): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const name of fs.xattrNames(path).sort()) {
    if (isOverlayPrivateXattr(name)) continue;
    const value = fs.xattr(path, name);
    // null: removed between the two calls (a running container); it is not there any more.
    if (value !== null) out.push([name, value]);
  }
  return out;
}

/**
 * Whole seconds of a nanosecond time, rounding toward -infinity (times before 1970 included).
 *
 * @example
 * wholeSeconds(-1n) === -1n
 */
export function wholeSeconds(ns: bigint): bigint {
  const q = ns / 1_000_000_000n;
  return ns < 0n && q * 1_000_000_000n !== ns ? q - 1n : q;
}

/**
 * Converts Node's bigint stats into a NodeInfo.
 *
 * @example
 * toNodeInfo(fs.lstatSync(path, { bigint: true })).kind // 'file'
 */
export function toNodeInfo(st: fs.BigIntStats): NodeInfo {
  return {
    kind: kindOfMode(Number(st.mode)),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    mtimeNs: st.mtimeNs,
    rdev: Number(st.rdev),
    dev: st.dev,
    ino: st.ino,
    nlink: Number(st.nlink),
  };
}

const CHUNK = 1 << 20;

/**
 * The real port: node:fs for stat and content, the store's xattr port for attributes.
 *
 * @example
 * const treeFs = nodeTreeFs(ctx.ports);
 */
export function nodeTreeFs(xattrs: XattrSource): TreeFs {
  return {
    lstat(path) {
      // statx through koffi (sys/statx.ts): exact inode numbers and mtimes at a fifth of the cost
      // of Node's bigint lstat. No throw for a missing path: lookups in lower layers miss often.
      let st: StatxResult | null;
      try {
        st = lstatx(path);
      } catch (err) {
        throw fromSystemError(err, `read "${path}"`);
      }
      return st === null ? null : {
        kind: st.kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size,
        mtimeNs: st.mtimeNs, rdev: st.rdev, dev: st.dev, ino: st.ino, nlink: st.nlink,
      };
    },
    readdir(path) {
      try {
        return fs.readdirSync(path);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return [];
        throw fromSystemError(err, `list "${path}"`);
      }
    },
    readlink(path) {
      try {
        return fs.readlinkSync(path);
      } catch (err) {
        throw fromSystemError(err, `read the symlink "${path}"`);
      }
    },
    xattrNames(path) {
      return xattrs.llistxattr(path);
    },
    xattr(path, name) {
      return xattrs.lgetxattr(path, name);
    },
    sameContent(a, b, size) {
      return sameBytes(a, b, size);
    },
  };
}

/** Compares two files chunk by chunk; stops at the first difference. */
function sameBytes(a: string, b: string, size: number): boolean {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW;
  let fa = -1;
  let fb = -1;
  try {
    fa = openSync(a, flags);
    fb = openSync(b, flags);
    const ba = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
    const bb = Buffer.allocUnsafe(ba.length);
    for (let pos = 0; pos < size;) {
      const want = Math.min(ba.length, size - pos);
      const na = readFully(fa, ba, want, pos);
      const nb = readFully(fb, bb, want, pos);
      if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
      // Both ended early at the same point (a file shrank under us): equal as far as they go.
      if (na < want) return true;
      pos += na;
    }
    return true;
  } catch (err) {
    throw fromSystemError(err, `compare "${a}" with "${b}"`);
  } finally {
    if (fa >= 0) closeSync(fa);
    if (fb >= 0) closeSync(fb);
  }
}

function readFully(fd: number, buf: Buffer, want: number, pos: number): number {
  let got = 0;
  while (got < want) {
    const n = readSync(fd, buf, got, want - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}
