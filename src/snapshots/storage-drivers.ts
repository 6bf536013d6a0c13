/**
 * The storage drivers a store can be created with, and how each is opened on a store's root.
 */
import { ShibafuError } from '../errors.js';
import { btrfsStorage } from './btrfs/btrfs-storage.js';
import { fuseOverlayStorage } from './fuse-overlayfs/fuse-overlay-storage.js';
import { overlayStorage } from './overlay/overlay-storage.js';
import type { SnapshotStorage } from './snapshot-storage.js';
import type { StorageDriver } from './snapshotter.js';
import { zfsStorage } from './zfs/zfs-storage.js';

/** The drivers a user can choose (`naive` is the test driver, never a store's). */
export const STORAGE_DRIVERS: readonly StorageDriver[] = ['overlay', 'btrfs', 'fuse-overlayfs', 'zfs'];

export const DEFAULT_STORAGE_DRIVER: StorageDriver = 'overlay';

/**
 * Checks a driver name given by a user.
 *
 * @example
 * parseStorageDriver('btrfs') // 'btrfs'
 */
export function parseStorageDriver(name: string): StorageDriver {
  if ((STORAGE_DRIVERS as readonly string[]).includes(name)) return name as StorageDriver;
  throw new ShibafuError('USAGE', `Cannot use storage driver "${name}": expected one of ${STORAGE_DRIVERS.join(', ')}`);
}

/**
 * Parses `KEY=VALUE` storage options (podman's `--storage-opt`).
 *
 * @example
 * parseStorageOptions(['zfs.fsname=tank/shibafu']) // { 'zfs.fsname': 'tank/shibafu' }
 */
export function parseStorageOptions(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new ShibafuError('USAGE', `Cannot use storage option "${e}": expected KEY=VALUE`, { hint: 'Example: --storage-opt zfs.fsname=tank/shibafu' });
    out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/**
 * Opens `driver`'s storage for a store whose snapshots live under `root` (a directory for
 * overlay, fuse-overlayfs and btrfs; for zfs, the dataset named by `zfs.fsname`).
 *
 * @example
 * openStorage('overlay', { root: '/var/lib/shibafu/snapshots', options: {} });
 */
export function openStorage(driver: StorageDriver, where: { readonly root: string; readonly options: Readonly<Record<string, string>> }): SnapshotStorage {
  switch (driver) {
    case 'overlay': return overlayStorage({ root: where.root });
    case 'fuse-overlayfs': return fuseOverlayStorage({ root: where.root });
    case 'btrfs': return btrfsStorage({ root: where.root });
    case 'zfs': {
      const dataset = where.options['zfs.fsname'];
      if (dataset === undefined) {
        throw new ShibafuError('UNSUPPORTED', 'Cannot open the zfs driver: no dataset to keep the snapshots under', {
          hint: 'Create the store with --storage-opt zfs.fsname=POOL/DATASET (a dataset whose mountpoint you choose).',
        });
      }
      return zfsStorage({ dataset });
    }
    case 'naive':
      throw new ShibafuError('UNSUPPORTED', 'Cannot open a store with the naive driver: it is the test suite\'s driver');
  }
}
