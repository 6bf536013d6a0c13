/**
 * The import-time guard for drivers that cannot hold extended attributes (capabilities.xattrs
 * false: zfs on Debian's zfs-fuse). A layer's xattrs are part of its content (its diffId covers
 * them; security.capability is what makes `ping` work unprivileged), so a layer that carries any
 * is refused with a clear error before anything is written, never imported without them.
 */
import { ShibafuError } from '../errors.js';
import type { DriverCapabilities, StorageDriver } from './snapshotter.js';

/** What the guard needs of a snapshotter (or a storage): its name and capabilities. */
export interface XattrTarget {
  readonly driver: StorageDriver;
  readonly capabilities: Pick<DriverCapabilities, 'xattrs'>;
}

/** One entry of a layer: its path and its xattrs, name first (a tar entry's Map, or an ApplyOp's attrs). */
export interface XattrEntry {
  readonly path: string;
  readonly xattrs: Iterable<readonly [string, unknown]>;
}

/**
 * Throws UNSUPPORTED when `entry` carries xattrs and `target` cannot hold them; does nothing
 * otherwise. The store's applier calls it for every entry of a layer it imports into a snapshot.
 *
 * @example
 * assertXattrsSupported(snapshotter, { path: 'usr/bin/ping', xattrs: new Map([['security.capability', buf]]) });
 * // ShibafuError UNSUPPORTED: Cannot import "usr/bin/ping" into the zfs driver: it has the extended attribute "security.capability", which this driver's file system cannot hold
 */
export function assertXattrsSupported(target: XattrTarget, entry: XattrEntry): void {
  if (target.capabilities.xattrs) return;
  const names = [...entry.xattrs].map(([name]) => name);
  if (names.length === 0) return;
  const list = names.map((n) => `"${n}"`).join(', ');
  throw new ShibafuError('UNSUPPORTED', `Cannot import "${entry.path}" into the ${target.driver} driver: it has the extended attribute${names.length === 1 ? '' : 's'} ${list}, which this driver's file system cannot hold`, {
    hint: target.driver === 'zfs'
      ? 'Use a store with the overlay driver for this image, or a ZFS that keeps xattrs (kernel ZFS, or zfs-fuse started with --enable-xattr).'
      : 'Use a store with the overlay driver for this image.',
    details: { path: entry.path, xattrs: names, driver: target.driver },
  });
}
