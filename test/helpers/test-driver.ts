/**
 * The storage driver the test stores are made with: overlay, unless SHIBAFU_TEST_DRIVER names
 * another (test/driver-contract.test.ts reruns the container and changes suites that way, as
 * test/service-contract.test.ts reruns them through the service). A store made here records its
 * driver, so every later open, by the library or the CLI, keeps it without being told.
 *
 * Where the driver needs a file system of its own, the store root goes there: btrfs gets a loop
 * device per store (mkfs takes ~0.1 s); zfs gets a dataset in the pool the parent run made and
 * named in SHIBAFU_TEST_ZFS_POOL (starting a zfs-fuse daemon and a pool per test file would cost
 * seconds each), mounted under the pool's mount point, so it goes with the pool.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { openStore, type StorageDriver } from '../../src/index.js';
import { makeLoopBtrfs } from './loop-btrfs.js';

export const TEST_DRIVER = (process.env.SHIBAFU_TEST_DRIVER ?? 'overlay') as StorageDriver;

/** The zfs pool (name and mount point) a parent run made for its children: `POOL:MOUNTPOINT`. */
export const TEST_ZFS_POOL_ENV = 'SHIBAFU_TEST_ZFS_POOL';

export interface DriverBacking {
  /** Where the store root goes. */
  readonly root: string;
  /** Undoes what was made for the store (after the store is closed and its mounts are gone). */
  teardown(): void;
}

let datasets = 0;

/**
 * Makes the store at `<base>/store` (or on the driver's file system) with TEST_DRIVER, closed
 * again; overlay makes nothing (the first open creates the store, as before drivers).
 *
 * @example
 * const { root, teardown } = makeDriverStore(base);
 */
export function makeDriverStore(base: string): DriverBacking {
  switch (TEST_DRIVER) {
    case 'overlay':
      return { root: join(base, 'store'), teardown: () => {} };
    case 'fuse-overlayfs':
      return created(join(base, 'store'), {}, () => {});
    case 'btrfs': {
      const fsys = makeLoopBtrfs('1G', base);
      return created(join(fsys.mnt, 'store'), {}, () => fsys.teardown());
    }
    case 'zfs': {
      const [pool, mountpoint] = (process.env[TEST_ZFS_POOL_ENV] ?? '').split(':');
      if (pool === undefined || pool === '' || mountpoint === undefined) throw new Error(`SHIBAFU_TEST_DRIVER=zfs needs ${TEST_ZFS_POOL_ENV}=POOL:MOUNTPOINT`);
      const name = `t${process.pid}x${++datasets}`;
      const dataset = `${pool}/${name}`;
      const r = spawnSync('zfs', ['create', '-o', `mountpoint=${join(mountpoint, name)}`, dataset], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`zfs create ${dataset}: ${r.stderr}`);
      return created(join(base, 'store'), { 'zfs.fsname': dataset }, () => {});
    }
    default:
      return { root: join(base, 'store'), teardown: () => {} };
  }
}

function created(root: string, storageOptions: Record<string, string>, teardown: () => void): DriverBacking {
  try {
    openStore({ root, storageDriver: TEST_DRIVER, storageOptions }).close();
  } catch (err) {
    teardown();
    throw err;
  }
  return { root, teardown };
}

/** How TEST_DRIVER's writable snapshots record a deletion: overlay's whiteouts, or a whole tree without the file. */
export const TEST_FORMAT: 'overlay' | 'dir' = TEST_DRIVER === 'overlay' || TEST_DRIVER === 'fuse-overlayfs' ? 'overlay' : 'dir';

/**
 * Runs `fn` with a sealed layer's directory writable, for the tests that tamper with a layer on
 * disk: btrfs and zfs seal a layer read-only (a subvolume's `ro` flag, a dataset's `readonly`),
 * and give it back that way.
 *
 * @example
 * tamperWith(store.inspectLayer('base').path, () => writeFileSync(join(path, 'etc/motd'), 'x'));
 */
export function tamperWith(dir: string, fn: () => void): void {
  const run = (program: string, args: readonly string[]): string => {
    const r = spawnSync(program, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${program} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  let writable: () => void = () => {};
  let readonly: () => void = () => {};
  if (TEST_DRIVER === 'btrfs') {
    writable = () => run('btrfs', ['property', 'set', '-ts', dir, 'ro', 'false']);
    readonly = () => run('btrfs', ['property', 'set', '-ts', dir, 'ro', 'true']);
  } else if (TEST_DRIVER === 'zfs') {
    const dataset = run('zfs', ['list', '-H', '-o', 'name,mountpoint']).split('\n').map((l) => l.split('\t')).find((f) => f[1] === dir)?.[0];
    if (dataset === undefined) throw new Error(`no zfs dataset is mounted at ${dir}`);
    writable = () => run('zfs', ['set', 'readonly=off', dataset]);
    readonly = () => run('zfs', ['set', 'readonly=on', dataset]);
  }
  writable();
  try {
    fn();
  } finally {
    readonly();
  }
}

/** Whether TEST_DRIVER's file system holds xattrs: zfs-fuse does not (the driver refuses such layers by name). */
export const TEST_XATTRS = TEST_DRIVER !== 'zfs';
