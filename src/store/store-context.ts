/**
 * What every store operation works with: the database, the layout, the kernel ports and the limits.
 * Operations are plain functions of a context (STYLE.md: classes only for resources).
 */
import type { Db } from '../db/db.js';
import type { StoreLayout } from './layout.js';
import type { Mounter, MountTable } from '../snapshots/mount.js';
import type { Snapshotter, StorageDriver } from '../snapshots/snapshotter.js';
import type { MountApi, StorePorts } from './ports.js';

export interface ImportLimits {
  /** Entries per archive. */
  readonly maxEntries: number;
  /** Components per path. */
  readonly maxDepth: number;
  /** Uncompressed bytes per archive: a compression bomb stops here. */
  readonly maxBytes: number;
}

export const DEFAULT_LIMITS: ImportLimits = {
  maxEntries: 2_000_000,
  maxDepth: 256,
  maxBytes: 64 * 1024 ** 3,
};

export interface StoreContext {
  readonly db: Db;
  readonly layout: StoreLayout;
  readonly ports: StorePorts;
  /**
   * The store's snapshotter: sealed layers are its committed snapshots (named by chainId), open
   * layers, writable mounts and containers its active ones.
   */
  readonly snapshots: Snapshotter;
  readonly driver: StorageDriver;
  /** Performs the mounts the store plans (the mount API decided once, where the kernel has the new one). */
  readonly mounter: Mounter & MountTable;
  /** The mounter for an API asked for by name (`layer mount --mount-api`); `auto` is `mounter`. */
  readonly mounterFor: (api: MountApi) => Mounter & MountTable;
  readonly limits: ImportLimits;
  /** Injected so tests can fix time; returns an ISO-8601 timestamp. */
  readonly now: () => string;
}
