/**
 * What a directory tree takes on disk: allocated bytes (st_blocks, so sparse files and holes
 * count as they are stored) and inodes, each inode once (hardlinks are not counted twice).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { SnapshotUsage } from './snapshotter.js';

/**
 * @example
 * dirUsage('/var/lib/shibafu/snapshots/7') // { size: 53248, inodes: 12 }
 */
export function dirUsage(root: string): SnapshotUsage {
  const seen = new Set<bigint>();
  let size = 0;
  let inodes = 0;
  const visit = (path: string): void => {
    const st = fs.lstatSync(path, { bigint: true });
    if (st.nlink > 1n) {
      if (seen.has(st.ino)) return;
      seen.add(st.ino);
    }
    inodes++;
    size += Number(st.blocks) * 512;
    if (st.isDirectory()) for (const name of fs.readdirSync(path)) visit(join(path, name));
  };
  try {
    visit(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { size, inodes };
}
