/**
 * Mounts as data: what a snapshotter returns and only a `Mounter` performs (STYLE.md, "plan, then
 * apply"). A snapshotter never mounts; the store plans, then hands the plan over. One request type
 * per kind of mount, each with exactly the fields its mount needs.
 *
 * The lists of lowers are bottom first, as the store's stacks are; the kernel's `lowerdir` option
 * (and `lowerdir+` order) is top first, a conversion that belongs to the one code that mounts.
 */

/** A kernel overlay mount (`mount -t overlay`). Read-only without `upper`. */
export interface OverlayMount {
  readonly type: 'overlay';
  /** Lower directories, bottom of the stack first. */
  readonly lowers: readonly string[];
  readonly upper?: string;
  readonly work?: string;
  /**
   * Skip syncs of the upper (overlay's `volatile`): for uppers thrown away with their container
   * (`run --rm`), where an unmount would otherwise cost a syncfs of all its data.
   */
  readonly volatile?: boolean;
  /**
   * Short names of the same lowers, relative to `cwd` (symlinks the caller keeps), for the legacy
   * mount(2) path, whose options must fit in one page: 500 full paths do not. The new mount API
   * takes the full paths, one `lowerdir+` each.
   */
  readonly legacyNames?: { readonly cwd: string; readonly names: readonly string[] };
}

/** The overlay format mounted by the `fuse-overlayfs` program (containers/storage's mount program). */
export interface FuseOverlayMount {
  readonly type: 'fuse-overlayfs';
  /** The program to run (absolute path, found once when the driver opened). */
  readonly program: string;
  readonly lowers: readonly string[];
  readonly upper?: string;
  readonly work?: string;
  /** No fsync reaches the disk (the program's `volatile` option, as overlay's): an upper that dies with its container. */
  readonly volatile?: true;
}

/**
 * A bind mount of a directory that already holds the whole tree (a btrfs subvolume, a ZFS
 * dataset's mount point, a copied tree).
 */
export interface BindMount {
  readonly type: 'bind';
  readonly source: string;
  readonly readonly: boolean;
}

export type Mount = OverlayMount | FuseOverlayMount | BindMount;

/** containerd's shape of a mount (`type`, `source`, `options`), for people and `--json`. */
export interface MountDescription {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

/**
 * The mount in containerd's vocabulary, as `mount -t TYPE -o OPTIONS SOURCE` would take it.
 *
 * @example
 * describeMount({ type: 'overlay', lowers: ['/l/a', '/l/b'] })
 * // { type: 'overlay', source: 'overlay', options: ['lowerdir=/l/b:/l/a', 'ro'] }
 */
export function describeMount(m: Mount): MountDescription {
  switch (m.type) {
    case 'bind':
      return { type: 'bind', source: m.source, options: ['rbind', m.readonly ? 'ro' : 'rw'] };
    case 'overlay':
    case 'fuse-overlayfs': {
      const options = [`lowerdir=${[...m.lowers].reverse().join(':')}`];
      if (m.upper !== undefined && m.work !== undefined) options.push(`upperdir=${m.upper}`, `workdir=${m.work}`);
      else options.push('ro');
      if (m.volatile === true) options.push('volatile');
      return { type: m.type === 'overlay' ? 'overlay' : 'fuse.fuse-overlayfs', source: m.type === 'overlay' ? 'overlay' : m.program, options };
    }
  }
}

/**
 * Performs mounts (the only code that does). `mount` applies the list in order at `target`, as
 * containerd's `mount.All`; every snapshotter here returns one mount per snapshot.
 */
export interface Mounter {
  /** The overlay mount API, decided once for this mounter: where the kernel has `lowerdir+`, the new one. */
  overlayApi(): 'new' | 'legacy';
  mount(mounts: readonly Mount[], target: string): void;
  /** Unmounts; false when nothing was mounted at `target` (idempotent). `lazy` detaches a busy mount. */
  unmount(target: string, options?: { readonly lazy?: boolean }): boolean;
  /** Whether something is mounted exactly at `target`. */
  isMounted(target: string): boolean;
}

/** Tells a snapshotter whether one of its directories is in a live mount (so it must not go). */
export interface MountTable {
  /** True when `dir` is the upper, a lower or the bind source of a mount that exists now. */
  isInUse(dir: string): boolean;
}
