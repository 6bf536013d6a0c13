/**
 * What a directory holds, as `ls -lR` and `du` would tell: the demos show the upper dir after each
 * step, whiteouts (character devices 0/0) and overlay's own xattrs included.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { isOverlayPrivateXattr, isWhiteout } from '../format/overlay-format.js';
import { llistxattr, lgetxattr } from '../sys/xattr.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/** One entry of a tree, as lstat sees it (links are not followed). A plain JSON value. */
export type TreeEntry = {
  /** Relative to the listed dir, `/`-separated. */
  readonly path: string;
  readonly type: EntryType;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number;
  readonly size: number;
  /** Device numbers of a character or block device, else null. */
  readonly rdev: { readonly major: number; readonly minor: number } | null;
  /** A character device 0/0: overlay's mark for a deleted name. */
  readonly whiteout: boolean;
  /**
   * Overlay's xattrs (`trusted.overlay.*`, `user.overlay.*`): the text of a printable value (`opaque` → `y`),
   * else `0x` and its hex (`origin` is a file handle of the lower file).
   */
  readonly xattrs: { readonly [name: string]: string };
};

/**
 * Splits a Linux dev_t as glibc's major()/minor() do: 12 bits of major and 20 of minor, spread
 * over the 64-bit value for compatibility with the old 8:8 encoding.
 *
 * @example
 * splitDevice(0x0801) // { major: 8, minor: 1 }
 */
export function splitDevice(rdev: number): { major: number; minor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev % 2 ** 32;
  return {
    major: ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0),
    minor: (low & 0xff) | ((low >>> 12) & 0xfff00),
  };
}

function typeOf(st: fs.Stats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

function overlayXattrs(path: string): { [name: string]: string } {
  const out: { [name: string]: string } = {};
  for (const name of llistxattr(path).filter(isOverlayPrivateXattr).sort()) {
    const value = lgetxattr(path, name) ?? Buffer.alloc(0);
    const printable = value.length > 0 && value.every((b) => b >= 0x20 && b < 0x7f);
    out[name] = printable ? value.toString('latin1') : `0x${value.toString('hex')}`;
  }
  return out;
}

/**
 * Every entry under `dir` (not `dir` itself), parents before their children, names sorted.
 *
 * @example
 * listTree(view.upper) // [{ path: 'base.txt', type: 'char', rdev: { major: 0, minor: 0 }, whiteout: true, ... }]
 */
export function listTree(dir: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (abs: string, rel: string): void => {
    for (const name of fs.readdirSync(abs).sort()) {
      const path = join(abs, name);
      const st = fs.lstatSync(path);
      const type = typeOf(st);
      const rdev = type === 'char' || type === 'block' ? splitDevice(st.rdev) : null;
      out.push({
        path: rel === '' ? name : `${rel}/${name}`,
        type,
        mode: st.mode & 0o7777,
        size: st.size,
        rdev,
        whiteout: isWhiteout({ kind: type, rdev: st.rdev }),
        xattrs: overlayXattrs(path),
      });
      if (type === 'dir') walk(path, rel === '' ? name : `${rel}/${name}`);
    }
  };
  walk(dir, '');
  return out;
}

/**
 * Bytes of disk `path` uses, as `du -s --block-size=1` counts them: st_blocks × 512 of every inode
 * under it, hard links once. (st_size would miss holes and count copies that share nothing.)
 *
 * @example
 * diskUsage(layer.path) // 52432896
 */
export function diskUsage(path: string): number {
  const seen = new Set<string>();
  let total = 0;
  const visit = (p: string): void => {
    const st = fs.lstatSync(p, { bigint: true });
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      total += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(join(p, name));
  };
  visit(path);
  return total;
}
