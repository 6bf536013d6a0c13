/**
 * How the snapshotter contract suite gets a driver: a fresh store root per test, the storage on it,
 * and the mounter that can mount what it returns. A child process (the crash tests) opens the same
 * storage from `spec`: a module of dist/ and the name of its factory `(args) => SnapshotStorage`.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Db } from '../../src/db/db.js';
import type { SnapshotterContext } from '../../src/snapshots/meta-snapshotter.js';
import type { Mounter, MountTable } from '../../src/snapshots/mount.js';
import type { SnapshotStorage } from '../../src/snapshots/snapshot-storage.js';
import { tryLock } from '../../src/sys/flock.js';

export interface StorageSpec {
  /** Absolute path of the compiled module that exports the factory. */
  readonly module: string;
  readonly factory: string;
  /** JSON-safe arguments of the factory. */
  readonly args: unknown;
}

export interface DriverFixture {
  /** The store root: shibafu.db and tmp/ are in it. */
  readonly root: string;
  readonly spec: StorageSpec;
  readonly mounter: Mounter;
  readonly mountTable: MountTable;
  /** Everything the storage holds on disk, by name (dirs, subvolumes, datasets): no leftover may stay. */
  listObjects(): string[];
  cleanup(): void;
}

export interface ContractHarness {
  readonly driver: string;
  /** Why this driver's suite cannot run here, or false. */
  readonly skip: string | false;
  /** A fresh, empty fixture. */
  setup(): DriverFixture;
}

/** Opens the storage a spec names (in this process or the crash child). */
export async function openStorage(spec: StorageSpec): Promise<SnapshotStorage> {
  const mod = await import(spec.module) as Record<string, (args: unknown) => SnapshotStorage>;
  const factory = mod[spec.factory];
  if (factory === undefined) throw new Error(`${spec.module} exports no ${spec.factory}`);
  return factory(spec.args);
}

/** The snapshotter's context on a fixture's root (its own Db connection). */
export function contextFor(root: string, mountTable: MountTable, checkpoint?: (point: string) => void): SnapshotterContext {
  mkdirSync(join(root, 'tmp'), { recursive: true, mode: 0o700 });
  return {
    db: Db.open(join(root, 'shibafu.db')),
    staging: { tmp: join(root, 'tmp') },
    locks: { tryLock },
    mountTable,
    now: () => new Date().toISOString(),
    ...(checkpoint === undefined ? {} : { checkpoint }),
  };
}

/**
 * The objects of an overlay-format storage (overlay, fuse-overlayfs): each snapshot's dir, and any
 * workdir under `work/` whose snapshot dir is gone (a leftover).
 */
export function overlayObjects(storageRoot: string): string[] {
  const dirs = readdirSync(storageRoot).filter((n) => n !== 'work');
  const orphans = readdirSync(join(storageRoot, 'work')).filter((n) => !dirs.includes(n)).map((n) => `work/${n}`);
  return [...dirs, ...orphans].sort();
}
