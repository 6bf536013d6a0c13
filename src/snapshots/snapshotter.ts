/**
 * The one interface every storage backend implements, in containerd's vocabulary.
 *
 * A snapshotter keeps file-system snapshots. A snapshot is identified by a **key** while it is
 * *active* (writable) or a *view* (read-only), and by a **name** once *committed* (immutable, and
 * the only kind that can be a **parent**). The store names committed snapshots by the layer's
 * chainId, so "the same content on the same parent" is one snapshot.
 *
 * Importing a layer:
 *
 *     const mounts = sn.prepare('import-1', parentChainId);  // an empty writable snapshot on the parent
 *     mounter.mount(mounts, tmpTarget);                      // or write into sn.changeset('import-1').dir
 *     ...unpack the layer tar into it (in the driver's format, see `capabilities.format`)...
 *     mounter.unmount(tmpTarget);
 *     sn.commit(chainId, 'import-1');                        // now a parent for the next layer
 *
 * Running a container:
 *
 *     const mounts = sn.prepare('container-<id>', topChainId);
 *     mounter.mount(mounts, rootfs);                          // runc runs on rootfs
 *     ...                                                     // `container commit` = sn.commit(name, key)
 *     mounter.unmount(rootfs); sn.remove('container-<id>');
 *
 * Rules every driver keeps (the contract suite, src/snapshots/snapshotter-contract.ts, checks
 * them against each one):
 * - `prepare` and `view` take a committed parent, or none; a key or name is used once.
 * - `commit` turns an active snapshot into a committed one and the key is gone afterwards.
 * - `remove` refuses a committed snapshot that is the parent of any other snapshot, and any
 *   snapshot whose directories are in a live mount (SNAPSHOT_IN_USE).
 * - Mounts are data (src/snapshots/mount.ts): a snapshotter never mounts.
 * - Every change is crash-safe: staged under the store's tmp/ with a recorded intent, made
 *   visible in one SQLite transaction, undone by the sweep of the next open if interrupted.
 * - A driver that cannot do something asked of it says so: UNSUPPORTED, with a hint.
 */
import type { Mount } from './mount.js';

/** The backends a store can be created with (`--storage-driver`). */
export type StorageDriver = 'overlay' | 'btrfs' | 'fuse-overlayfs' | 'zfs' | 'naive';

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  readonly kind: SnapshotKind;
  /** The key of an active snapshot or view, the name of a committed one. */
  readonly name: string;
  /** The committed parent's name; null for a snapshot on nothing. */
  readonly parent: string | null;
  /**
   * For an overlay stack of several unrelated chains: every chain's top, bottom first (`parent`
   * is the last). One element, or none, for every other snapshot.
   */
  readonly parents: readonly string[];
  readonly created: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface SnapshotUsage {
  /** Bytes the snapshot's own data takes on disk (what removing it would give back, at most). */
  readonly size: number;
  /** Inodes of its own data. */
  readonly inodes: number;
}

/**
 * Where the changes of a snapshot can be read without mounting, in the driver's format:
 * - `overlay`: `dir` holds only the changes (0/0 whiteouts, opaque xattrs): an OCI changeset as is.
 * - `dir`: `dir` holds the whole tree and `parentDir` the parent's whole tree (null: none); the
 *   changes are the difference between the two (real deletions, no whiteouts).
 */
export type Changeset =
  | { readonly format: 'overlay'; readonly dir: string }
  | { readonly format: 'dir'; readonly dir: string; readonly parentDir: string | null };

export interface DriverCapabilities {
  /** How a snapshot holds its changes (src/format/). */
  readonly format: 'overlay' | 'dir';
  /** Whether one snapshot may stack several unrelated chains (`prepare(key, [a, b])`). */
  readonly stacksChains: boolean;
  /** Deepest chain a mount can take (the kernel's OVL_MAX_STACK for overlay); null: no limit. */
  readonly maxDepth: number | null;
  /** Whether extended attributes (security.capability, user.*) survive in snapshots. */
  readonly xattrs: boolean;
  /** Whether a view is enforced read-only by the mount (false only for the test driver). */
  readonly readonlyViews: boolean;
}

export interface PrepareOptions {
  readonly labels?: Readonly<Record<string, string>>;
  /** A throw-away snapshot: its writes need not survive a crash (overlay's `volatile`). */
  readonly volatile?: boolean;
}

/**
 * The snapshotter. Synchronous: every operation is a few syscalls and one transaction (or, for
 * zfs, one short `zfs` command), and the store calls them inside its own transactions.
 */
export interface Snapshotter {
  readonly driver: StorageDriver;
  readonly capabilities: DriverCapabilities;

  /** The snapshot's info; SNAPSHOT_NOT_FOUND when there is none by that key or name. */
  stat(key: string): SnapshotInfo;

  /**
   * Creates an active snapshot `key` on `parent` (a committed name; a list of them, bottom first,
   * stacks unrelated chains where `capabilities.stacksChains`) and returns the mounts of its
   * writable tree. SNAPSHOT_EXISTS if `key` is taken, SNAPSHOT_NOT_FOUND / SNAPSHOT_STATE for a
   * missing or uncommitted parent, STACK_TOO_DEEP past `capabilities.maxDepth`.
   */
  prepare(key: string, parent?: string | readonly string[] | null, options?: PrepareOptions): Mount[];

  /** Like prepare, but read-only, and it can never be committed. */
  view(key: string, parent: string | readonly string[], options?: Omit<PrepareOptions, 'volatile'>): Mount[];

  /** The mounts of an active snapshot or a view, as prepare/view returned them. */
  mounts(key: string): Mount[];

  /**
   * Commits the active snapshot `key` as `name`: it becomes immutable and may be a parent; the key
   * is gone. SNAPSHOT_EXISTS if `name` is taken (the active snapshot stays), SNAPSHOT_STATE for a
   * view or a committed key. The caller has made sure nothing writes to it any more (unmounted).
   */
  commit(name: string, key: string, options?: { readonly labels?: Readonly<Record<string, string>> }): SnapshotInfo;

  /** Removes a snapshot of any kind. SNAPSHOT_IN_USE while it is a parent or mounted. */
  remove(key: string): void;

  /** Every snapshot, parents before their children. */
  walk(fn: (info: SnapshotInfo) => void): void;

  /** What the snapshot's own data takes on disk. */
  usage(key: string): SnapshotUsage;

  /** Where its changes can be read (or, for an active snapshot, written) without a mount. */
  changeset(key: string): Changeset;

  /**
   * Brings an active snapshot's changes to its format's canonical form in place (fuse-overlayfs
   * leaves marks of its own in an upper), for a reader that walks them as a layer; a no-op for
   * the other drivers. Only while nothing has it mounted.
   */
  settle(key: string): void;

  close(): void;
}
