/**
 * The snapshotter contract on the btrfs driver: real subvolumes on a btrfs loop device this file
 * makes (256 MiB sparse image) and tears down in after(), real bind mounts (root).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { systemMounter } from '../../src/overlay/system-mounter.js';
import { destroySubvolume, isSubvolume } from '../../src/sys/btrfs.js';
import { makeLoopBtrfs, needsBtrfs, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { snapshotterContract } from './snapshotter-contract.js';

const BTRFS_MODULE = fileURLToPath(new URL('../../src/snapshots/btrfs/btrfs-storage.js', import.meta.url));

let loop: LoopBtrfs | undefined;
after(() => loop?.teardown());

snapshotterContract({
  driver: 'btrfs',
  skip: needsBtrfs,
  setup() {
    loop ??= makeLoopBtrfs('256M');
    // The store root (shibafu.db, tmp/, the mount targets) on the btrfs too, as a store would be.
    const root = mkdtempSync(join(loop.mnt, 'store-'));
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const mounter = systemMounter({ emptyDir: empty });
    const storageRoot = join(root, 'snapshots');
    return {
      root,
      spec: { module: BTRFS_MODULE, factory: 'btrfsStorage', args: { root: storageRoot } },
      mounter,
      mountTable: mounter,
      listObjects: () => readdirSync(storageRoot).sort(),
      cleanup: () => {
        // rm -r cannot take a read-only subvolume apart: destroy each first (a failed case leaves some).
        for (const name of safeReaddir(storageRoot)) {
          if (isSubvolume(join(storageRoot, name))) destroySubvolume(join(storageRoot, name));
        }
        rmSync(root, { recursive: true, force: true });
      },
    };
  },
});

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
