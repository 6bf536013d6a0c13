/**
 * The btrfs driver's storage (containerd's btrfs snapshotter, in the "dir" format): a snapshot is
 * a subvolume `<root>/<id>` holding its whole tree, made under `<root>/staged-<token>` and renamed
 * into place (a subvolume is renamed like a directory within one file system). A snapshot on
 * nothing is a new empty subvolume; on a parent, a writable snapshot of the parent's subvolume,
 * where deletions are real deletions (no whiteouts); a view is a read-only snapshot, so it is an
 * object of its own and btrfs itself refuses writes to it. Commit sets the subvolume read-only in
 * place: the tree never moves or copies, whatever its size. Mounts are binds of the subvolume.
 *
 * Every subvolume operation is one ioctl (src/sys/btrfs.ts), never a `btrfs` process per layer.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ShibafuError, fromSystemError } from '../../errors.js';
import { createSubvolume, destroySubvolume, isSubvolume, onBtrfs, setSubvolumeReadonly, snapshotSubvolume } from '../../sys/btrfs.js';
import { isSysError } from '../../sys/sys-error.js';
import { dirUsage } from '../dir-usage.js';
import type { Mount } from '../mount.js';
import type { BuildSpec, SnapshotStorage, StoredSnapshot } from '../snapshot-storage.js';
import type { Changeset, DriverCapabilities, SnapshotUsage } from '../snapshotter.js';

/**
 * One chain per snapshot (a subvolume snapshots one parent tree; unrelated chains cannot be
 * merged without copying), no depth limit (a snapshot of a snapshot costs the same at any depth).
 */
export const BTRFS_CAPABILITIES: DriverCapabilities = {
  format: 'dir', stacksChains: false, maxDepth: null, xattrs: true, readonlyViews: true,
};

/**
 * The storage on `root`, a directory on a btrfs file system (made if missing). UNSUPPORTED when
 * it is on another file system.
 *
 * @example
 * openSnapshotter(ctx, btrfsStorage({ root: '/var/lib/shibafu/snapshots' }));
 */
export function btrfsStorage(args: { readonly root: string }): SnapshotStorage {
  return new BtrfsStorage(args.root);
}

class BtrfsStorage implements SnapshotStorage {
  readonly driver = 'btrfs' as const;
  readonly capabilities = BTRFS_CAPABILITIES;
  readonly viewObjects = true;
  readonly #root: string;

  constructor(root: string) {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    if (!onBtrfs(root)) {
      throw new ShibafuError('UNSUPPORTED', `Cannot open the btrfs driver on "${root}": it is not on a btrfs file system`, {
        hint: 'Mount a btrfs file system at the store root (mkfs.btrfs DEVICE; mount DEVICE ROOT), or create the store with --storage-driver overlay.',
      });
    }
    this.#root = root;
  }

  #subvolume(id: number): string { return join(this.#root, String(id)); }
  #staged(token: string): string { return join(this.#root, `staged-${token}`); }

  build(token: string, spec: BuildSpec): void {
    const dest = this.#staged(token);
    const parent = spec.lowers.at(-1);
    try {
      if (parent === undefined) createSubvolume(dest);
      else snapshotSubvolume(this.#subvolume(parent.id), dest, { readonly: spec.kind === 'view' });
    } catch (err) {
      throw fromSystemError(err, `make the subvolume of a new snapshot${parent === undefined ? '' : ` on snapshot ${parent.id}`}`);
    }
  }

  publish(token: string, id: number): void {
    this.destroy(id);
    try {
      fs.renameSync(this.#staged(token), this.#subvolume(id));
    } catch (err) {
      throw fromSystemError(err, `publish the subvolume of snapshot ${id}`);
    }
  }

  discardStaged(token: string): void {
    this.#remove(this.#staged(token), `discard staged subvolume ${token}`);
  }

  seal(id: number): void {
    // Read-only in place, enforced by btrfs for every mount and path; the kernel commits the
    // transaction that records the flag before the ioctl returns.
    this.#setReadonly(id, true);
  }

  unseal(id: number): void {
    this.#setReadonly(id, false);
  }

  destroy(id: number): void {
    this.#remove(this.#subvolume(id), `destroy the subvolume of snapshot ${id}`);
  }

  mounts(snapshot: StoredSnapshot): Mount[] {
    return [{ type: 'bind', source: this.#subvolume(snapshot.id), readonly: snapshot.kind === 'view' }];
  }

  busyDirs(snapshot: StoredSnapshot): string[] {
    return [this.#subvolume(snapshot.id)];
  }

  /**
   * du-style, as containerd's btrfs snapshotter reports it (fs.DiskUsage of the subvolume): the
   * blocks of every file in the tree, so extents shared with the parent count in full. Exclusive
   * bytes would need qgroups, which cost on every write of the file system.
   */
  usage(snapshot: StoredSnapshot): SnapshotUsage {
    return dirUsage(this.#subvolume(snapshot.id));
  }

  changeset(snapshot: StoredSnapshot, parent: StoredSnapshot | null): Changeset {
    return { format: 'dir', dir: this.#subvolume(snapshot.id), parentDir: parent === null ? null : this.#subvolume(parent.id) };
  }

  listIds(): number[] {
    return fs.readdirSync(this.#root).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  }

  close(): void {}

  #setReadonly(id: number, readonly: boolean): void {
    try {
      setSubvolumeReadonly(this.#subvolume(id), readonly);
    } catch (err) {
      throw fromSystemError(err, `make the subvolume of snapshot ${id} ${readonly ? 'read-only' : 'writable'}`);
    }
  }

  /** Removes a subvolume with those nested in it, whatever part of it exists. */
  #remove(path: string, action: string): void {
    try {
      if (isSubvolume(path)) destroySubvolume(path);
      // Not a subvolume (never made by this driver, but a leftover must not block the name).
      else fs.rmSync(path, { recursive: true, force: true });
    } catch (err) {
      if (isSysError(err, 'ENOENT')) return;
      if (isSysError(err, 'EBUSY')) {
        throw new ShibafuError('SNAPSHOT_IN_USE', `Cannot ${action}: something is mounted on it (${path})`, { hint: 'Unmount it first.', cause: err });
      }
      throw fromSystemError(err, action);
    }
  }
}
