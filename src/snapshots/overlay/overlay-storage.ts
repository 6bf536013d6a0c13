/**
 * The overlay driver's storage: a snapshot is a directory `<root>/<id>` holding only its changes
 * in overlay's format (src/format/), plus, while it is active, overlay's workdir `<root>/work/<id>`
 * (on the same file system as the upper, as the kernel wants, and outside every layer). A committed
 * snapshot is a lower; an active one the upper of a mount over its parents' dirs; a view a
 * read-only mount of them. Commit moves nothing: the upper already is the layer's changeset, so it
 * only loses its workdir. The dirs are named by the bare id so that the legacy mount(2), whose
 * options must fit in one page, takes 500 of them relative to the root (at most 7 bytes each).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { OVERLAY_MAX_STACK } from '../../overlay/plan-overlay-mount.js';
import { dirUsage } from '../dir-usage.js';
import type { Mount } from '../mount.js';
import type { BuildSpec, SnapshotStorage, StoredSnapshot } from '../snapshot-storage.js';
import type { Changeset, DriverCapabilities, SnapshotUsage } from '../snapshotter.js';

export const OVERLAY_CAPABILITIES: DriverCapabilities = {
  format: 'overlay', stacksChains: true, maxDepth: OVERLAY_MAX_STACK, xattrs: true, readonlyViews: true,
};

/** Where a snapshot's dirs are, for the functions that name its mounts. */
export interface OverlayPaths {
  readonly root: string;
  /** The snapshot's changes: the upper while active, a lower once committed. */
  fsDir(id: number): string;
  workDir(id: number): string;
}

/**
 * @example
 * openSnapshotter(ctx, overlayStorage({ root: '/var/lib/shibafu/snapshots' }));
 */
export function overlayStorage(options: { readonly root: string }): SnapshotStorage {
  return new OverlayDirs(options.root, 'overlay', OVERLAY_CAPABILITIES, (p, s, lowers, volatile) => {
    const dirs = lowers.map((l) => p.fsDir(l.id));
    const legacyNames = { cwd: p.root, names: lowers.map((l) => String(l.id)) };
    if (s.kind === 'view') return [{ type: 'overlay', lowers: dirs, legacyNames }];
    // Nothing under it: overlay needs a lower, and a bind of the upper is the same tree (containerd's
    // overlay snapshotter does the same).
    if (dirs.length === 0) return [{ type: 'bind', source: p.fsDir(s.id), readonly: false }];
    return [{ type: 'overlay', lowers: dirs, upper: p.fsDir(s.id), work: p.workDir(s.id), legacyNames, ...(volatile ? { volatile: true } : {}) }];
  });
}

type MountsOf = (paths: OverlayPaths, s: StoredSnapshot, lowers: readonly StoredSnapshot[], volatile: boolean) => Mount[];

/**
 * Directories in overlay's format, shared by the drivers that mount them (kernel overlay, and
 * fuse-overlayfs, which only mounts them differently).
 */
export class OverlayDirs implements SnapshotStorage, OverlayPaths {
  readonly root: string;
  readonly #mounts: MountsOf;
  readonly driver: SnapshotStorage['driver'];
  readonly capabilities: DriverCapabilities;
  /** A view is a read-only mount of its parents' dirs: it needs no dir, no upper, no workdir. */
  readonly viewObjects = false;

  constructor(root: string, driver: SnapshotStorage['driver'], capabilities: DriverCapabilities, mounts: MountsOf) {
    this.root = root;
    this.driver = driver;
    this.capabilities = capabilities;
    this.#mounts = mounts;
    fs.mkdirSync(join(root, 'work'), { recursive: true, mode: 0o700 });
  }

  // Concatenated, not join()ed: the root is normalized, and a mount asks for up to 500 of these.
  fsDir(id: number): string { return `${this.root}/${id}`; }
  workDir(id: number): string { return `${this.root}/work/${id}`; }
  #staged(token: string): string { return join(this.root, `staged-${token}`); }
  #stagedWork(token: string): string { return join(this.root, 'work', `staged-${token}`); }

  build(token: string, _spec: BuildSpec): void {
    fs.mkdirSync(this.#staged(token), 0o755);
    fs.mkdirSync(this.#stagedWork(token), 0o700);
  }

  publish(token: string, id: number): void {
    // Holding the write lock, anything at the id's names is a leftover (no row has the id).
    this.destroy(id);
    fs.renameSync(this.#staged(token), this.fsDir(id));
    if (fs.existsSync(this.#stagedWork(token))) fs.renameSync(this.#stagedWork(token), this.workDir(id));
  }

  discardStaged(token: string): void {
    fs.rmSync(this.#staged(token), { recursive: true, force: true });
    fs.rmSync(this.#stagedWork(token), { recursive: true, force: true });
  }

  seal(id: number): void {
    // A lower needs no workdir; what overlay left in it (work/work, mode 000) goes with it.
    fs.rmSync(this.workDir(id), { recursive: true, force: true });
  }

  unseal(id: number): void {
    fs.mkdirSync(this.workDir(id), { recursive: true, mode: 0o700 });
  }

  destroy(id: number): void {
    fs.rmSync(this.fsDir(id), { recursive: true, force: true });
    fs.rmSync(this.workDir(id), { recursive: true, force: true });
  }

  mounts(snapshot: StoredSnapshot, lowers: readonly StoredSnapshot[], options: { readonly volatile: boolean }): Mount[] {
    // An active snapshot always has its workdir: a commit made inside a caller's transaction that
    // then rolled back leaves the row active and the dir sealed (its workdir removed).
    if (snapshot.kind === 'active' && lowers.length > 0) fs.mkdirSync(this.workDir(snapshot.id), { recursive: true, mode: 0o700 });
    return this.#mounts(this, snapshot, lowers, options.volatile);
  }

  busyDirs(snapshot: StoredSnapshot): string[] {
    return [this.fsDir(snapshot.id)];
  }

  usage(snapshot: StoredSnapshot): SnapshotUsage {
    if (snapshot.kind === 'view') return { size: 0, inodes: 0 };
    return dirUsage(this.fsDir(snapshot.id));
  }

  changeset(snapshot: StoredSnapshot): Changeset {
    return { format: 'overlay', dir: this.fsDir(snapshot.id) };
  }

  listIds(): number[] {
    return fs.readdirSync(this.root).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  }

  close(): void {}
}
