/**
 * The test driver (containerd's "native" snapshotter, without root): every snapshot is a full
 * copy of its parent's tree in `<root>/<id>/fs`, mounted as a bind of that directory. It needs no
 * mount and no privilege, so the contract suite runs on it anywhere; it is never a store's driver
 * in production (a copy per container is what shibafu exists to avoid).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ShibafuError } from '../../errors.js';
import { dirUsage } from '../dir-usage.js';
import type { Mount } from '../mount.js';
import type { BuildSpec, SnapshotStorage, StoredSnapshot } from '../snapshot-storage.js';
import type { Changeset, DriverCapabilities, SnapshotUsage } from '../snapshotter.js';

export const NAIVE_CAPABILITIES: DriverCapabilities = {
  format: 'dir', stacksChains: false, maxDepth: null, xattrs: true, readonlyViews: false,
};

/**
 * @example
 * openSnapshotter(ctx, naiveStorage({ root: tmpDir }));
 */
export function naiveStorage(options: { readonly root: string }): SnapshotStorage {
  return new NaiveStorage(options.root);
}

class NaiveStorage implements SnapshotStorage {
  readonly driver = 'naive' as const;
  readonly capabilities = NAIVE_CAPABILITIES;
  readonly viewObjects = true;
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  }

  #fs(id: number): string { return join(this.#root, String(id), 'fs'); }
  #staged(token: string): string { return join(this.#root, `staged-${token}`); }

  build(token: string, spec: BuildSpec): void {
    const dir = this.#staged(token);
    fs.mkdirSync(dir, 0o700);
    const top = spec.lowers.at(-1);
    if (top === undefined) {
      fs.mkdirSync(join(dir, 'fs'), 0o755);
      return;
    }
    try {
      fs.cpSync(this.#fs(top.id), join(dir, 'fs'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, errorOnExist: true });
    } catch (err) {
      throw new ShibafuError('IO_ERROR', `Cannot copy snapshot ${top.id}: ${(err as Error).message}`, { cause: err });
    }
  }

  publish(token: string, id: number): void {
    const final = join(this.#root, String(id));
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(this.#staged(token), final);
  }

  discardStaged(token: string): void { fs.rmSync(this.#staged(token), { recursive: true, force: true }); }
  seal(): void {}
  unseal(): void {}
  destroy(id: number): void { fs.rmSync(join(this.#root, String(id)), { recursive: true, force: true }); }

  mounts(snapshot: StoredSnapshot): Mount[] {
    return [{ type: 'bind', source: this.#fs(snapshot.id), readonly: snapshot.kind === 'view' }];
  }

  busyDirs(snapshot: StoredSnapshot): string[] { return [this.#fs(snapshot.id)]; }
  usage(snapshot: StoredSnapshot): SnapshotUsage { return dirUsage(this.#fs(snapshot.id)); }

  changeset(snapshot: StoredSnapshot, parent: StoredSnapshot | null): Changeset {
    return { format: 'dir', dir: this.#fs(snapshot.id), parentDir: parent === null ? null : this.#fs(parent.id) };
  }

  listIds(): number[] {
    return fs.readdirSync(this.#root).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  }

  close(): void {}
}
