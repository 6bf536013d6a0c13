/**
 * Writes single nodes into a layer directory being built (a commit of an upper dir, a diff layer):
 * the node itself, then owner, mode, xattrs and mtime taken from its source. File content goes
 * through the store's CopyPort (reflink, else copy_file_range, else read/write), never through a
 * user-space loop of ours.
 */
import * as fs from 'node:fs';
import { fromSystemError } from '../errors.js';
import { devMajor, devMinor } from '../sys/mknod.js';
import { OPAQUE_XATTR, type NodeInfo } from './tree-fs.js';

/** The kernel ports a writer needs (a subset of the store's StorePorts). */
export interface WriterPorts {
  copyFile(src: string, dst: string, mode: number): 'reflink' | 'copy_file_range' | 'copy';
  mknod(path: string, kind: 'char' | 'block' | 'fifo', mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
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

/** Fresh, zeroed stats. */
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

const OPAQUE_VALUE = Buffer.from('y');

/**
 * Creates the non-directory node `dst` as a copy of `src` (file, symlink, device, fifo) with its
 * attributes. Sockets belong to a running process, not to a layer: skipped (returns false).
 *
 * @example
 * writeNode(ports, `${stageDiff}/etc/motd`, { info, path: upperPath, xattrs }, stats);
 */
export function writeNode(ports: WriterPorts, dst: string, src: NodeSource, stats: WriteStats): boolean {
  const { info } = src;
  switch (info.kind) {
    case 'file': {
      // Created 0600 and chmod-ed after chown: chown clears setuid/setgid bits.
      const method = ports.copyFile(src.path, dst, 0o600);
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
  setAttrs(ports, dst, info, src.xattrs);
  setTimes(dst, info.mtimeNs);
  return true;
}

/**
 * Creates directory `dst` with `info`'s owner and mode and the given xattrs (plus the opaque marker
 * when asked). Its mtime is set by the caller after its entries are written (`setTimes`).
 */
export function writeDir(ports: WriterPorts, dst: string, info: NodeInfo, xattrs: ReadonlyArray<readonly [string, Buffer]>, opaque: boolean, stats: WriteStats): void {
  fs.mkdirSync(dst, 0o700);
  setAttrs(ports, dst, info, xattrs);
  if (opaque) ports.lsetxattr(dst, OPAQUE_XATTR, OPAQUE_VALUE);
  stats.dirs++;
}

/** A whiteout as the kernel makes one: character device 0/0, mode 0, with the given owner and mtime. */
export function writeWhiteout(ports: WriterPorts, dst: string, owner: { uid: number; gid: number; mtimeNs: bigint }, stats: WriteStats): void {
  ports.mknod(dst, 'char', 0, 0, 0);
  fs.lchownSync(dst, owner.uid, owner.gid);
  setTimes(dst, owner.mtimeNs);
  stats.whiteouts++;
}

/** Owner, then mode (chown clears setuid/setgid), then xattrs. */
function setAttrs(ports: WriterPorts, dst: string, info: NodeInfo, xattrs: ReadonlyArray<readonly [string, Buffer]>): void {
  try {
    fs.lchownSync(dst, info.uid, info.gid);
    if (info.kind !== 'symlink') fs.chmodSync(dst, info.mode);
    for (const [name, value] of xattrs) ports.lsetxattr(dst, name, value);
  } catch (err) {
    throw fromSystemError(err, `set the attributes of "${dst}"`);
  }
}

/**
 * Sets atime and mtime to `mtimeNs`, at millisecond precision (what Node's utimes takes without
 * float rounding), flooring so the whole second, which is what a layer tar keeps, never moves.
 */
export function setTimes(dst: string, mtimeNs: bigint): void {
  const ms = mtimeNs / 1_000_000n - (mtimeNs < 0n && mtimeNs % 1_000_000n !== 0n ? 1n : 0n);
  const when = new Date(Number(ms));
  fs.lutimesSync(dst, when, when);
}
