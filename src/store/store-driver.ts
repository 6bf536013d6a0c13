/**
 * Which storage driver a store has: chosen when the store is created (`--storage-driver`,
 * default overlay), recorded in it, and kept for its whole life. A store made before drivers
 * existed is an overlay store.
 */
import type { Db } from '../db/db.js';
import { setStoreSetting, storeHasRows, storeSetting } from '../db/snapshot-queries.js';
import { LAYOUT_KEY, SNAPSHOT_LAYOUT } from './legacy-layout.js';
import { ShibafuError } from '../errors.js';
import { DEFAULT_STORAGE_DRIVER, parseStorageDriver } from '../snapshots/storage-drivers.js';
import type { StorageDriver } from '../snapshots/snapshotter.js';

export interface StoreDriver {
  readonly driver: StorageDriver;
  /** True for a store whose files are still in the layout from before drivers (legacy-layout.ts). */
  readonly legacy: boolean;
  /** The driver's options, as given when the store was created (`zfs.fsname=...`). */
  readonly options: Readonly<Record<string, string>>;
}

const DRIVER_KEY = 'storage_driver';
const OPTIONS_KEY = 'storage_options';

/**
 * The store's driver; on a new store, records the one asked for. DRIVER_MISMATCH when the store
 * has another than the one asked for.
 *
 * @example
 * storeDriver(db, 'btrfs', {}) // { driver: 'btrfs', options: {} } on a new store
 */
export function storeDriver(db: Db, root: string, wanted?: StorageDriver, wantedOptions?: Readonly<Record<string, string>>): StoreDriver {
  const read = (): StoreDriver | undefined => {
    const driver = storeSetting(db, DRIVER_KEY);
    if (driver === undefined) return undefined;
    return {
      driver: parseStorageDriver(driver),
      options: JSON.parse(storeSetting(db, OPTIONS_KEY) ?? '{}') as Record<string, string>,
      legacy: storeSetting(db, LAYOUT_KEY) !== SNAPSHOT_LAYOUT,
    };
  };
  // A read first: every command opens the store, and only its creation writes.
  const found = db.read(read) ?? db.immediate(() => {
    const again = read();
    if (again !== undefined) return again;
    // A store with rows but no driver was made before drivers: an overlay store in the old layout.
    const legacy = storeHasRows(db);
    const chosen: StoreDriver = { driver: legacy ? 'overlay' : wanted ?? DEFAULT_STORAGE_DRIVER, options: legacy ? {} : wantedOptions ?? {}, legacy };
    setStoreSetting(db, DRIVER_KEY, chosen.driver);
    setStoreSetting(db, OPTIONS_KEY, JSON.stringify(chosen.options));
    if (!legacy) setStoreSetting(db, LAYOUT_KEY, SNAPSHOT_LAYOUT);
    return chosen;
  });
  if (wanted !== undefined && wanted !== found.driver) {
    throw new ShibafuError('DRIVER_MISMATCH', `Cannot open the store at ${root} with the ${wanted} driver: it was created with the ${found.driver} driver`, {
      hint: `Drop --storage-driver (or SHIBAFU_STORAGE_DRIVER), or use another --root for a ${wanted} store.`,
      details: { driver: found.driver, wanted },
    });
  }
  return found;
}
