/**
 * The overlay driver's storage: a snapshot is a directory `<root>/<id>/fs` holding only its
 * changes in overlay's format (src/format/), plus `work/` while it is active (overlay's workdir,
 * on the same file system as the upper). A committed snapshot is a lower; an active one the upper
 * of a mount over its parents' dirs; a view a read-only mount of them. Commit is a move of
 * nothing: the upper already is the layer's changeset, so it only loses its work dir.
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

/**
 * @example
 * openSnapshotter(ctx, overlayStorage({ root: '/var/lib/shibafu/snapshots' }));
 */
export function overlayStorage(options: { readonly root: string }): SnapshotStorage {
  return new OverlayDirs(options.root, 'overlay', OVERLAY_CAPABILITIES, (s, lowers, volatile) => {
    const dirs = lowers.map((l) => `${options.root}/${l.id}/fs`);
    if (s.kind === 'view') return [{ type: 'overlay', lowers: dirs }];
    // Nothing under it: overlay needs a lower, and a bind of the upper is the same tree (containerd's
    // overlay snapshotter does the same).
    if (dirs.length === 0) return [{ type: 'bind', source: `${options.root}/${s.id}/fs`, readonly: false }];
    return [{ type: 'overlay', lowers: dirs, upper: `${options.root}/${s.id}/fs`, work: `${options.root}/${s.id}/work`, ...(volatile ? { volatile: true } : {}) }];
  });
}

/**
 * Directories in overlay's format, shared by the drivers that mount them (kernel overlay, and
 * fuse-overlayfs, which only mounts them differently).
 */
export class OverlayDirs implements SnapshotStorage {
  readonly #root: string;
  readonly #mounts: (s: StoredSnapshot, lowers: readonly StoredSnapshot[], volatile: boolean) => Mount[];
  readonly driver: SnapshotStorage['driver'];
  readonly capabilities: DriverCapabilities;

  constructor(root: string, driver: SnapshotStorage['driver'], capabilities: DriverCapabilities, mounts: (s: StoredSnapshot, lowers: readonly StoredSnapshot[], volatile: boolean) => Mount[]) {
    this.#root = root;
    this.driver = driver;
    this.capabilities = capabilities;
    this.#mounts = mounts;
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  }

  #dir(id: number): string { return `${this.#root}/${id}`; }
  #staged(token: string): string { return join(this.#root, `staged-${token}`); }

  build(token: string, spec: BuildSpec): void {
    const dir = this.#staged(token);
    fs.mkdirSync(dir, 0o700);
    fs.mkdirSync(join(dir, 'fs'), 0o755);
    if (spec.kind === 'active') fs.mkdirSync(join(dir, 'work'), 0o700);
  }

  publish(token: string, id: number): void {
    const final = this.#dir(id);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(this.#staged(token), final);
  }

  discardStaged(token: string): void {
    fs.rmSync(this.#staged(token), { recursive: true, force: true });
  }

  seal(id: number): void {
    // A lower needs no workdir; what overlay left in it (work/work, mode 000) goes with it.
    fs.rmSync(join(this.#dir(id), 'work'), { recursive: true, force: true });
  }

  unseal(id: number): void {
    fs.mkdirSync(join(this.#dir(id), 'work'), { recursive: true, mode: 0o700 });
  }

  destroy(id: number): void {
    fs.rmSync(this.#dir(id), { recursive: true, force: true });
  }

  mounts(snapshot: StoredSnapshot, lowers: readonly StoredSnapshot[], options: { readonly volatile: boolean }): Mount[] {
    return this.#mounts(snapshot, lowers, options.volatile);
  }

  busyDirs(snapshot: StoredSnapshot): string[] {
    return [join(this.#dir(snapshot.id), 'fs')];
  }

  usage(snapshot: StoredSnapshot): SnapshotUsage {
    return dirUsage(join(this.#dir(snapshot.id), 'fs'));
  }

  changeset(snapshot: StoredSnapshot): Changeset {
    return { format: 'overlay', dir: join(this.#dir(snapshot.id), 'fs') };
  }

  listIds(): number[] {
    return fs.readdirSync(this.#root).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  }

  close(): void {}
}
