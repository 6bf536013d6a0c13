/**
 * What a storage driver does on disk, and nothing else. The metadata, the rules of the
 * interface and the crash-safety protocol are the same for every driver and live in one place
 * (src/snapshots/meta-snapshotter.ts); a driver only makes, seals and destroys the file-system
 * object of a snapshot (a directory, a btrfs subvolume, a ZFS dataset), names its mounts and
 * measures it. Every step is idempotent, so an interrupted one can be finished or undone by the
 * sweep of the next open.
 *
 * A snapshot's object is named by its row id (never reused, see migration 4), except while it is
 * being made: then by the staging token of the operation that makes it.
 */
import type { Mount } from './mount.js';
import type { Changeset, DriverCapabilities, SnapshotUsage, StorageDriver } from './snapshotter.js';

/** A snapshot as the storage sees it. */
export interface StoredSnapshot {
  readonly id: number;
  readonly kind: 'active' | 'view' | 'committed';
}

export interface BuildSpec {
  /** 'view' only where `viewObjects`. */
  readonly kind: 'active' | 'view';
  /**
   * The committed snapshots under it, bottom first: its parent's chain (or, for an overlay stack
   * of several chains, each chain in order). Empty for a snapshot on nothing.
   */
  readonly lowers: readonly StoredSnapshot[];
}

export interface SnapshotStorage {
  readonly driver: StorageDriver;
  readonly capabilities: DriverCapabilities;
  /**
   * Whether a view has an object of its own (a read-only snapshot, a clone). False where a view
   * is only a read-only mount of its committed parents' objects (overlay's format): such a view
   * is its row alone, and build, publish, destroy and busyDirs are never called for it.
   */
  readonly viewObjects: boolean;

  /**
   * Makes a new snapshot's object under the staged name `token`: empty, or (for a full-tree
   * driver) a writable snapshot of the parent's. Called outside any transaction.
   */
  build(token: string, spec: BuildSpec): void;
  /**
   * Gives the staged object `token` its final name, `id` (inside the transaction that records the
   * row). An object already there is a leftover of an interrupted operation (no row has that id)
   * and is replaced.
   */
  publish(token: string, id: number): void;
  /** Removes what `build(token)` made, whatever part of it exists. */
  discardStaged(token: string): void;

  /** The file-system step of a commit: the active object becomes immutable (read-only). */
  seal(id: number): void;
  /** Canonical form of an active snapshot's changes, in place (Snapshotter.settle); absent: already canonical. */
  settle?(id: number): void;
  /** Undoes `seal` (a commit whose row never changed). */
  unseal(id: number): void;
  /** Removes the object of snapshot `id`, whatever part of it exists. */
  destroy(id: number): void;

  /** The mounts of an active snapshot or a view on `lowers` (committed, bottom first). */
  mounts(snapshot: StoredSnapshot, lowers: readonly StoredSnapshot[], options: { readonly volatile: boolean }): Mount[];
  /** Directories of the snapshot that a live mount may hold (checked before a removal). */
  busyDirs(snapshot: StoredSnapshot): string[];
  usage(snapshot: StoredSnapshot): SnapshotUsage;
  changeset(snapshot: StoredSnapshot, parent: StoredSnapshot | null): Changeset;
  /** The ids of every object on disk (leftovers included): for the sweep and the contract suite. */
  listIds(): number[];
  close(): void;
}
