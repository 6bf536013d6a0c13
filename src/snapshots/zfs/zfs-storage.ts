/**
 * The zfs driver's storage, as containers/storage's zfs driver keeps layers: one dataset per
 * snapshot under a parent dataset, `<dataset>/<id>`, holding the whole tree ("dir" format).
 * - a snapshot on nothing is a new dataset; one on a parent is a clone of the parent's
 *   `@committed` snapshot (copy-on-write: nothing is copied);
 * - commit (seal) takes the dataset's `@committed` snapshot and sets readonly=on;
 * - a view is a clone too, created readonly=on, and mounted read-only;
 * - its mounts are a bind of the dataset's mount point, `<parent's mountpoint>/<id>` (inherited,
 *   so a rename moves it), canmount=on so `zfs mount -a` brings every snapshot back.
 *
 * A dataset is made as `<dataset>/staged-<token>` with canmount=noauto and left unmounted while
 * staged: zfs-fuse refuses to rename a mounted dataset ("dataset is busy").
 *
 * Each step is one or a few `zfs` commands (src/sys/zfs-command.ts), about 15-20 ms each on
 * zfs-fuse here. So opening the storage runs none: the pool and dataset are checked, and what a
 * restarted daemon left unmounted is mounted, at the first call that needs a dataset or its
 * path (three commands, 20-25 ms on zfs-fuse here), and never by a command that only reads the store's rows
 * (`layer list`, `ps`).
 */
import * as fs from 'node:fs';
import { ShibafuError } from '../../errors.js';
import { runZfs, zfsOutput } from '../../sys/zfs-command.js';
import type { Mount } from '../mount.js';
import type { BuildSpec, SnapshotStorage, StoredSnapshot } from '../snapshot-storage.js';
import type { Changeset, DriverCapabilities, SnapshotUsage } from '../snapshotter.js';

/**
 * xattrs false: Debian's zfs-fuse refuses every setxattr (EOPNOTSUPP) unless its daemon was
 * started with --enable-xattr, which its init script does not do. A layer with xattrs is refused
 * on import (assertXattrsSupported), never imported without them.
 */
export const ZFS_CAPABILITIES: DriverCapabilities = {
  format: 'dir', stacksChains: false, maxDepth: null, xattrs: false, readonlyViews: true,
};

/** The ZFS snapshot a committed dataset is cloned from. */
const COMMITTED = 'committed';

/** libzfs's rule for dataset names (zfs_namecheck.c), without '@' and '#'; never a leading '-'. */
const DATASET_NAME = /^[A-Za-z][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*$/;

/**
 * @example
 * openSnapshotter(ctx, zfsStorage({ dataset: 'tank/shibafu' }));
 */
export function zfsStorage(args: { readonly dataset: string }): SnapshotStorage {
  return new ZfsStorage(args.dataset);
}

class ZfsStorage implements SnapshotStorage {
  readonly driver = 'zfs' as const;
  readonly capabilities = ZFS_CAPABILITIES;
  readonly viewObjects = true;
  readonly #dataset: string;
  /** The parent dataset's mount point (every snapshot's dataset inherits `<it>/<id>`), once checked. */
  #checkedBase: string | undefined;

  constructor(dataset: string) {
    if (!DATASET_NAME.test(dataset)) {
      throw new ShibafuError('USAGE', `Cannot use "${dataset}" as the zfs driver's dataset: not a ZFS dataset name`, { hint: 'Name a file system like tank/shibafu.' });
    }
    this.#dataset = dataset;
  }

  /** UNSUPPORTED, with the command that helps, when the pool or the dataset is missing or has no mount point. */
  #open(): string {
    const dataset = this.#dataset;
    const pool = dataset.split('/')[0] as string;
    const hasPool = runZfs(['list', '-H', '-o', 'name', pool], { program: 'zpool', tolerate: ['missing'] });
    if (!hasPool.ok) {
      throw new ShibafuError('UNSUPPORTED', `Cannot open the zfs storage on "${dataset}": there is no pool "${pool}"`, {
        hint: 'Create or import it: zpool create POOL DEVICE (a file works: truncate -s 10G f; zpool create POOL /abs/path/f), or zpool import.',
        cause: hasPool.error,
      });
    }
    const mp = runZfs(['get', '-H', '-o', 'value', 'mountpoint', dataset], { tolerate: ['missing'] });
    if (!mp.ok) {
      throw new ShibafuError('UNSUPPORTED', `Cannot open the zfs storage on "${dataset}": the dataset does not exist`, {
        hint: `Create it: zfs create -o mountpoint=/var/lib/shibafu/zfs ${dataset}`, cause: mp.error,
      });
    }
    const base = mp.stdout.trim();
    if (!base.startsWith('/')) {
      throw new ShibafuError('UNSUPPORTED', `Cannot open the zfs storage on "${dataset}": its mountpoint is ${base}, the snapshots' datasets need a directory to inherit`, {
        hint: `Give it one: zfs set mountpoint=/var/lib/shibafu/zfs ${dataset}`,
      });
    }
    this.#mountAll();
    return base;
  }

  /**
   * The parent dataset's mount point, checked (and the snapshots' datasets mounted) at the first
   * call: every method below that runs a zfs command or names a dataset's path starts here.
   */
  #ready(): string {
    return this.#checkedBase ??= this.#open();
  }

  #name(id: number): string { return `${this.#dataset}/${id}`; }
  #staged(token: string): string { return `${this.#dataset}/staged-${token}`; }
  #mountpoint(id: number): string { return `${this.#ready()}/${id}`; }

  /** Mounts what a restarted daemon (or a reboot without `zfs mount -a`) left unmounted. */
  #mountAll(): void {
    for (const line of this.#children(['name', 'mounted', 'canmount'])) {
      const [name, mounted, canmount] = line;
      if (mounted === 'no' && canmount === 'on' && /^\d+$/.test(leaf(name as string))) zfsOutput(['mount', name as string]);
    }
  }

  /** The direct children of the parent dataset, one array of the asked properties each. */
  #children(props: readonly string[]): string[][] {
    const out = zfsOutput(['list', '-H', '-r', '-d', '1', '-t', 'filesystem', '-o', props.join(','), this.#dataset]);
    return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t')).filter((f) => f[0] !== this.#dataset);
  }

  build(token: string, spec: BuildSpec): void {
    this.#ready();
    const top = spec.lowers.at(-1);
    const props = ['-o', 'canmount=noauto', ...(spec.kind === 'view' ? ['-o', 'readonly=on'] : [])];
    if (top === undefined) {
      zfsOutput(['create', ...props, this.#staged(token)]);
      return;
    }
    zfsOutput(['clone', ...props, `${this.#name(top.id)}@${COMMITTED}`, this.#staged(token)]);
    // zfs-fuse's `zfs clone` mounts the clone whatever its canmount says (OpenZFS does not).
    runZfs(['umount', this.#staged(token)], { tolerate: ['not-mounted'] });
  }

  publish(token: string, id: number): void {
    this.#ready();
    // A dataset already at the id is a leftover (no row has that id): it goes, then the rename
    // is tried again. Not destroyed up front: that would cost a command on every prepare.
    if (!runZfs(['rename', this.#staged(token), this.#name(id)], { tolerate: ['exists'] }).ok) {
      this.destroy(id);
      zfsOutput(['rename', this.#staged(token), this.#name(id)]);
    }
    zfsOutput(['set', 'canmount=on', this.#name(id)]);
    zfsOutput(['mount', this.#name(id)]);
  }

  discardStaged(token: string): void {
    this.#ready();
    runZfs(['destroy', '-r', this.#staged(token)], { tolerate: ['missing'] });
  }

  seal(id: number): void {
    this.#ready();
    // The snapshot first: a clone can only be made of a snapshot, and taking one syncs the pool,
    // so `used` is exact from then on. An existing one is this step's own, interrupted.
    runZfs(['snapshot', `${this.#name(id)}@${COMMITTED}`], { tolerate: ['exists'] });
    zfsOutput(['set', 'readonly=on', this.#name(id)]);
  }

  unseal(id: number): void {
    this.#ready();
    // A snapshot clones were made of stays (it is theirs too); the dataset may be gone already
    // (a commit that lost the race with a removal).
    runZfs(['destroy', `${this.#name(id)}@${COMMITTED}`], { tolerate: ['missing', 'has-clones'] });
    runZfs(['set', 'readonly=off', this.#name(id)], { tolerate: ['missing'] });
  }

  destroy(id: number): void {
    this.#ready();
    // -r: the dataset's own @committed goes with it. Unmounting is zfs destroy's own first step.
    runZfs(['destroy', '-r', this.#name(id)], { tolerate: ['missing'] });
    // zfs-fuse leaves the mount point directory behind in the parent's file system.
    try {
      fs.rmdirSync(this.#mountpoint(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  mounts(snapshot: StoredSnapshot): Mount[] {
    return [{ type: 'bind', source: this.#mountpoint(snapshot.id), readonly: snapshot.kind === 'view' }];
  }

  busyDirs(snapshot: StoredSnapshot): string[] {
    return [this.#mountpoint(snapshot.id)];
  }

  usage(snapshot: StoredSnapshot): SnapshotUsage {
    this.#ready();
    const name = this.#name(snapshot.id);
    // ZFS accounts space when a transaction group syncs (every few seconds, or up to 30 s on
    // zfs-fuse), and neither fsync nor syncfs through FUSE forces one; a property change is a sync
    // task that waits for it. A committed snapshot or a view cannot change: it is synced already.
    if (snapshot.kind === 'active') zfsOutput(['set', 'shibafu:synced=yes', name]);
    const size = Number(zfsOutput(['get', '-Hp', '-o', 'value', 'used', name]).trim());
    // statfs on ZFS: f_files - f_ffree is the objects of the dataset (its tree, plus the 4 of
    // every empty ZFS file system; for a clone, the objects it shares with its origin too).
    const st = fs.statfsSync(this.#mountpoint(snapshot.id));
    return { size, inodes: st.files - st.ffree };
  }

  changeset(snapshot: StoredSnapshot, parent: StoredSnapshot | null): Changeset {
    return { format: 'dir', dir: this.#mountpoint(snapshot.id), parentDir: parent === null ? null : this.#mountpoint(parent.id) };
  }

  listIds(): number[] {
    this.#ready();
    return this.#children(['name']).map((f) => leaf(f[0] as string)).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  }

  close(): void {}
}

function leaf(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}
