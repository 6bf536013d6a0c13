/**
 * Writes single nodes into a layer directory being built (a commit of an upper dir, a diff layer):
 * the node itself, then owner, mode, xattrs and mtime taken from its source. File content goes
 * through the store's CopyPort (reflink, else copy_file_range, else read/write), never through a
 * user-space loop of ours.
 */
import * as fs from 'node:fs';
import { fromSystemError } from '../errors.js';
import { devMajor, devMinor } from '../sys/mknod.js';
import { timespecOf } from '../sys/utimens.js';
import { markOpaque } from '../format/overlay-format.js';
import type { NodeInfo } from './tree-fs.js';

/** The kernel ports a writer needs (a subset of the store's StorePorts). */
export interface WriterPorts {
  copyFile(src: string, dst: string, mode: number): 'reflink' | 'copy_file_range' | 'copy';
  mknod(path: string, kind: 'char' | 'block' | 'fifo', mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** utimensat without following a final symlink: exact {sec, nsec}. */
  lutimens(path: string, atime: { sec: number; nsec: number }, mtime: { sec: number; nsec: number }): void;
}

/** What the writers did, for `layer inspect`-style reports and the benchmarks. */
export interface WriteStats {
  files: number;
  dirs: number;
  links: number;
  whiteouts: number;
  /** Bytes of regular-file content. */
  bytes: number;
  methods: Record<'reflink' | 'copy_file_range' | 'copy', number>;
}

/**
 * Fresh, zeroed stats.
 *
 * @example
 * const stats = newWriteStats(); writeNode(ports, dst, src, stats);
 */
export function newWriteStats(): WriteStats {
  return { files: 0, dirs: 0, links: 0, whiteouts: 0, bytes: 0, methods: { reflink: 0, copy_file_range: 0, copy: 0 } };
}

/** The node to copy: its stat, where its content is, and the xattrs to give it. */
export interface NodeSource {
  readonly info: NodeInfo;
  /** The path to read a file's content or a symlink's target from. */
  readonly path: string;
  /** Xattrs to set (already filtered: overlay's private ones are the caller's call). */
  readonly xattrs: ReadonlyArray<readonly [string, Buffer]>;
}

/** The owner and mtime of whiteouts a layer is written with: the time a file was deleted is no content. */
export const NORMALIZED_WHITEOUT = { uid: 0, gid: 0, mtimeNs: 0n } as const;

/**
 * Creates the non-directory node `dst` as a copy of `src` (file, symlink, device, fifo) with its
 * attributes. Sockets belong to a running process, not to a layer: skipped (returns false).
 *
 * @example
 * writeNode(ports, `${stageDiff}/etc/motd`, { info, path: upperPath, xattrs }, stats);
 */
export function writeNode(ports: WriterPorts, dst: string, src: NodeSource, stats: WriteStats): boolean {
  const { info } = src;
  try {
    switch (info.kind) {
      case 'file': {
        // Created with its permission bits; setuid/setgid only after the chown, which clears them.
        const method = ports.copyFile(src.path, dst, info.mode & 0o777);
        stats.methods[method]++;
        stats.files++;
        stats.bytes += info.size;
        break;
      }
      case 'symlink':
        fs.symlinkSync(fs.readlinkSync(src.path), dst);
        break;
      case 'char':
      case 'block':
        ports.mknod(dst, info.kind, 0o600, devMajor(info.rdev), devMinor(info.rdev));
        break;
      case 'fifo':
        ports.mknod(dst, 'fifo', 0o600, 0, 0);
        break;
      default:
        return false;
    }
  } catch (err) {
    // ENOSPC becomes NO_SPACE (exit 6) here, not an internal error; ENOENT stays visible as the
    // cause (copyOverlayDir skips entries a running container deleted meanwhile).
    throw fromSystemError(err, `write "${dst}"`);
  }
  setAttrs(ports, dst, info, src.xattrs);
  setTimes(ports, dst, info.mtimeNs);
  return true;
}

/**
 * Creates directory `dst`, root-owned and 0700 while its entries are written: a setgid mode now
 * would hand its group to every entry, and an owner of 0:0 would then need a chown per entry.
 * The caller finishes it after its entries (`finishDir`), deepest first.
 *
 * @example
 * writeDir(`${diff}/etc`, stats); ...entries...; finishDir(ports, `${diff}/etc`, info, [], false);
 */
export function writeDir(dst: string, stats: WriteStats): void {
  try {
    fs.mkdirSync(dst, 0o700);
  } catch (err) {
    throw fromSystemError(err, `create directory "${dst}"`);
  }
  stats.dirs++;
}

/** A directory's owner, mode, xattrs (and opaque marker) and mtime, once its entries are written. */
export interface PendingDir {
  readonly path: string;
  readonly info: NodeInfo;
  readonly xattrs: ReadonlyArray<readonly [string, Buffer]>;
  readonly opaque: boolean;
}

/**
 * Gives directories made by `writeDir` their attributes, the last made first (children before
 * parents: writing into a directory moves its mtime).
 *
 * @example
 * finishDirs(ports, pending);
 */
export function finishDirs(ports: WriterPorts, pending: readonly PendingDir[]): void {
  for (let i = pending.length - 1; i >= 0; i--) {
    const d = pending[i] as PendingDir;
    setAttrs(ports, d.path, d.info, d.xattrs);
    if (d.opaque) markOpaque(ports, d.path);
    setTimes(ports, d.path, d.info.mtimeNs);
  }
}

/**
 * A whiteout as the kernel makes one: character device 0/0, mode 0, with the given owner and mtime.
 *
 * @example
 * writeWhiteout(ports, `${diff}/etc/old`, { uid: 0, gid: 0, mtimeNs: 0n }, stats);
 */
export function writeWhiteout(ports: WriterPorts, dst: string, owner: { uid: number; gid: number; mtimeNs: bigint }, stats: WriteStats): void {
  try {
    ports.mknod(dst, 'char', 0, 0, 0);
    if (owner.uid !== 0 || owner.gid !== 0 || !CREATES_ROOT_OWNED) fs.lchownSync(dst, owner.uid, owner.gid);
  } catch (err) {
    throw fromSystemError(err, `write whiteout "${dst}"`);
  }
  setTimes(ports, dst, owner.mtimeNs);
  stats.whiteouts++;
}

/**
 * True when this process creates nodes owned 0:0. Inside directories still 0700 root-owned
 * without setgid (`writeDir`), a new node is then already owned by root, and the chown of the
 * (usually root-owned) nodes of an image is skipped: one syscall less per file of a commit.
 */
export const CREATES_ROOT_OWNED = process.geteuid?.() === 0 && process.getegid?.() === 0;

/** Owner, then mode (chown clears setuid/setgid), then xattrs. */
function setAttrs(ports: WriterPorts, dst: string, info: NodeInfo, xattrs: ReadonlyArray<readonly [string, Buffer]>): void {
  try {
    if (info.uid !== 0 || info.gid !== 0 || !CREATES_ROOT_OWNED) fs.lchownSync(dst, info.uid, info.gid);
    // A copied file already has its permission bits (copyFile sets them exactly, umask aside).
    const needsMode = info.kind === 'file' ? (info.mode & 0o7000) !== 0 : info.kind !== 'symlink';
    if (needsMode) fs.chmodSync(dst, info.mode);
    for (const [name, value] of xattrs) ports.lsetxattr(dst, name, value);
  } catch (err) {
    throw fromSystemError(err, `set the attributes of "${dst}"`);
  }
}

/**
 * Sets atime and mtime to exactly `mtimeNs` (utimensat: Node's utimes goes through a double and
 * can move a time by ~0.2 µs, or across a whole second, which a layer tar would show). The atime
 * is not kept: it is no content, and a copy that kept it would only differ more.
 *
 * @example
 * setTimes(ports, `${diff}/etc`, 1_700_000_000_123_456_789n);
 */
export function setTimes(ports: Pick<WriterPorts, 'lutimens'>, dst: string, mtimeNs: bigint): void {
  const t = timespecOf(mtimeNs);
  try {
    ports.lutimens(dst, t, t);
  } catch (err) {
    throw fromSystemError(err, `set the time of "${dst}"`);
  }
}
