/**
 * What the image tests compare: a root file system as a map of paths to type, mode, owner, size,
 * content digest, link target, hard-link siblings and file times (whole seconds, as tar keeps
 * them), the merged rootfs of a loaded image (its top layer mounted read-only), and the proof
 * that a refused operation left the store as it was.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { runCli, type CliResult } from './cli.js';
import type { TempStore } from './temp-store.js';

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** `shibafu --root STORE ARGS...` */
export function storeCli(ts: TempStore, ...args: string[]): Promise<CliResult> {
  return runCli(['--root', ts.root, ...args]);
}

/**
 * Every node under `root` but the root itself.
 *
 * @example
 * assert.deepEqual(rootfsView(mounted), rootfsView(umociBundle + '/rootfs'));
 */
export function rootfsView(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string[]>();
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const rel = relative(root, abs);
      const st = fs.lstatSync(abs);
      const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isCharacterDevice() ? `c${st.rdev}` : 'x';
      const body = type === 'f' ? sha256(fs.readFileSync(abs)).slice(7, 23) : type === 'l' ? fs.readlinkSync(abs) : '';
      out[rel] = [type, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`, type === 'f' ? st.size : '', type === 'd' ? '' : Math.floor(st.mtimeMs / 1000), body].join(' ');
      if (type === 'f' && st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel]);
      if (type === 'd') walk(abs);
    }
  };
  walk(root);
  for (const group of inodes.values()) for (const p of group) out[p] += ` links=${group.join(',')}`;
  return out;
}

/** The image's merged rootfs (`image mount`), read by `fn`, unmounted after. */
export async function withImageRootfs<T>(ts: TempStore, image: string, fn: (dir: string) => T): Promise<T> {
  const target = fs.mkdtempSync(join(ts.base, 'rootfs-'));
  const m = await storeCli(ts, 'image', 'mount', image, target);
  assert.equal(m.status, 0, m.stderr);
  try {
    return fn(target);
  } finally {
    assert.equal((await storeCli(ts, 'image', 'umount', target)).status, 0);
  }
}

/** The store holds nothing: no image, no layer, nothing staged. */
export async function assertStoreEmpty(ts: TempStore): Promise<void> {
  assert.deepEqual(JSON.parse((await storeCli(ts, 'image', 'ls', '--json')).stdout), []);
  assert.deepEqual(JSON.parse((await storeCli(ts, 'layer', 'list', '--json')).stdout), []);
  assert.deepEqual(fs.readdirSync(join(ts.root, 'tmp')), []);
}
