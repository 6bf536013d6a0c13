/**
 * The Snapshotter every driver is served through: the metadata in SQLite, the interface's rules
 * and the crash-safety protocol, over a driver's SnapshotStorage (snapshot-storage.ts).
 *
 * The protocol, for each change (the sweep's undo is in snapshot-sweep.ts):
 * - prepare/view: intent {token} -> build the object under the token (outside the write lock)
 *   -> in one transaction: check again, insert the row, intent {token, id}, publish to the id.
 * - commit: intent {id} -> seal the object -> in one transaction: the row becomes committed.
 * - remove: intent {id} -> in one transaction: delete the row -> destroy the object.
 * So an object is visible under its id exactly when its row is committed; the sweep finishes or
 * undoes whatever step a killed process stopped at.
 *
 * A view of a driver whose views have no object (overlay's: a read-only mount of its parents'
 * dirs) is its row alone: made and removed in one transaction each, with no staging dir, no
 * intent and nothing for a sweep, and committed without a WAL fsync (like its mount, it does not
 * outlive a reboot). A 500-layer `layer mount` is such a view.
 */
import type { Db } from '../db/db.js';

/** A record that does not outlive a reboot needs no WAL fsync at commit (Db.immediate). */
const NOT_DURABLE = { durable: false } as const;
import {
  allSnapshots, chainIdsOf, childCount, deleteSnapshot, insertSnapshot, markCommitted, parentIdsOf, snapshotById, snapshotByKey,
  type SnapshotRow,
} from '../db/snapshot-queries.js';
import { ShibafuError, isShibafuError } from '../errors.js';
import { Staging, type StagingArea, type StagingLocks } from '../staging/staging.js';
import type { Mount, MountTable } from './mount.js';
import type { SnapshotStorage, StoredSnapshot } from './snapshot-storage.js';
import { sweepSnapshots, type SnapshotIntent, type SweptSnapshot } from './snapshot-sweep.js';
import type {
  Changeset, DriverCapabilities, PrepareOptions, SnapshotInfo, Snapshotter, SnapshotUsage, StorageDriver,
} from './snapshotter.js';

export interface SnapshotterContext {
  readonly db: Db;
  /** The store's tmp/ (staging dirs of kind `snapshot-*`). */
  readonly staging: StagingArea;
  readonly locks: StagingLocks;
  readonly mountTable: MountTable;
  readonly now: () => string;
  /**
   * Called at each step of a change, named `<operation>:<step>`; the contract suite's crash tests
   * kill the process there. Absent in production.
   */
  readonly checkpoint?: (point: string) => void;
}

/**
 * Serves `storage` as a Snapshotter, sweeping what interrupted changes of this driver left.
 *
 * @example
 * const sn = openSnapshotter(ctx, overlayStorage({ root: '/var/lib/shibafu/snapshots', emptyDir }));
 * const mounts = sn.prepare('container-1', 'sha256:...');
 */
export function openSnapshotter(ctx: SnapshotterContext, storage: SnapshotStorage, options: SweepOptions = {}): SweepingSnapshotter {
  sweepSnapshots(ctx, storage, options.stagingNames);
  return new MetaSnapshotter(ctx, storage);
}

export interface SweepOptions {
  /** The entries of tmp/ when the caller listed them already (listStaging): one readdir for every sweep of an open. */
  readonly stagingNames?: readonly string[];
}

/** A snapshotter whose owner can sweep again what killed processes left (a store kept open by the service). */
export interface SweepingSnapshotter extends Snapshotter {
  sweep(options?: SweepOptions): SweptSnapshot[];
}

class MetaSnapshotter implements SweepingSnapshotter {
  readonly #ctx: SnapshotterContext;
  readonly #storage: SnapshotStorage;

  constructor(ctx: SnapshotterContext, storage: SnapshotStorage) {
    this.#ctx = ctx;
    this.#storage = storage;
  }

  get driver(): StorageDriver { return this.#storage.driver; }
  get capabilities(): DriverCapabilities { return this.#storage.capabilities; }

  stat(key: string): SnapshotInfo {
    return this.#ctx.db.read(() => this.#info(this.#row(key)));
  }

  prepare(key: string, parent?: string | readonly string[] | null, options: PrepareOptions = {}): Mount[] {
    return this.#create('active', key, parent ?? null, options);
  }

  view(key: string, parent: string | readonly string[], options: Omit<PrepareOptions, 'volatile'> = {}): Mount[] {
    return this.#create('view', key, parent, options);
  }

  mounts(key: string): Mount[] {
    return this.#ctx.db.read(() => {
      const row = this.#row(key);
      if (row.kind === 'committed') {
        throw new ShibafuError('SNAPSHOT_STATE', `Cannot give the mounts of snapshot "${key}": it is committed`, {
          hint: 'Mount a view of it: view(key, name).',
        });
      }
      return this.#storage.mounts(stored(row), this.#lowers(parentIdsOf(this.#ctx.db, row)), { volatile: row.labels['shibafu.volatile'] === 'true' });
    });
  }

  commit(name: string, key: string, options: { readonly labels?: Readonly<Record<string, string>> } = {}): SnapshotInfo {
    const { db } = this.#ctx;
    const row = db.read(() => {
      const r = this.#row(key);
      if (r.kind !== 'active') {
        throw new ShibafuError('SNAPSHOT_STATE', `Cannot commit snapshot "${key}": it is ${r.kind === 'view' ? 'a view' : 'already committed'}`, {
          hint: 'Only an active snapshot (from prepare) can be committed.',
        });
      }
      this.#assertFree(name);
      return r;
    });
    const stage = Staging.create(this.#ctx.staging, 'snapshot-commit', this.#ctx.locks);
    try {
      stage.setIntent<SnapshotIntent>({ kind: 'snapshot-commit', id: row.id });
      this.#checkpoint('commit:recorded');
      this.#storage.seal(row.id);
      this.#checkpoint('commit:sealed');
      return db.immediate(() => {
        const now = snapshotById(db, row.id);
        if (now === undefined || now.kind !== 'active' || now.key !== key) {
          this.#storage.unseal(row.id);
          throw new ShibafuError('SNAPSHOT_NOT_FOUND', `Cannot commit snapshot "${key}": it was removed meanwhile`);
        }
        try {
          this.#assertFree(name);
        } catch (err) {
          this.#storage.unseal(row.id);
          throw err;
        }
        const labels = { ...withoutInternal(row.labels), ...options.labels };
        markCommitted(db, row.id, name, this.#ctx.now(), labels);
        this.#checkpoint('commit:committed');
        return this.#info(snapshotById(db, row.id) as SnapshotRow);
      });
    } finally {
      stage.dispose();
    }
  }

  remove(key: string): void {
    const { db } = this.#ctx;
    const known = db.read(() => snapshotByKey(db, key));
    if (known?.kind === 'view' && !this.#storage.viewObjects && db.immediate(() => this.#dropRowOnlyView(key), NOT_DURABLE)) return;
    const stage = this.#removalStage();
    try {
      // A view's or a volatile snapshot's removal needs no fsync either (it did not need one to exist).
      const ephemeral = known !== undefined && (known.kind === 'view' || known.labels['shibafu.volatile'] === 'true');
      const id = db.immediate(() => {
        const row = this.#row(key);
        const children = childCount(db, row.id);
        if (children > 0) {
          throw new ShibafuError('SNAPSHOT_IN_USE', `Cannot remove snapshot "${key}": ${children} snapshot${children === 1 ? ' stands' : 's stand'} on it`, {
            hint: 'Remove the snapshots made on it first.', details: { children },
          });
        }
        const busy = this.#storage.busyDirs(stored(row)).find((dir) => this.#ctx.mountTable.isInUse(dir));
        if (busy !== undefined) {
          throw new ShibafuError('SNAPSHOT_IN_USE', `Cannot remove snapshot "${key}": it is mounted (${busy})`, { hint: 'Unmount it first.' });
        }
        try {
          stage?.setIntent<SnapshotIntent>({ kind: 'snapshot-remove', id: row.id }, { durable: !ephemeral });
        } catch (err) {
          if (!isShibafuError(err, 'NO_SPACE')) throw err; // see #removalStage
        }
        this.#checkpoint('remove:recorded');
        deleteSnapshot(db, row.id);
        return row.id;
      }, { durable: !ephemeral });
      // The row is gone: the object is garbage now, destroyed outside the write lock (a big
      // tree takes a while), and by the sweep if this process dies first.
      this.#checkpoint('remove:deleted');
      this.#storage.destroy(id);
      this.#checkpoint('remove:destroyed');
    } finally {
      stage?.dispose();
    }
  }

  /**
   * Removes a view that is only its row (inside the caller's transaction); false when the key now
   * names another kind of snapshot (replaced since it was read), for the general removal. Nothing
   * can stand on a view, and nothing of it can be in a mount: the mount holds its parents' dirs,
   * whose removal checks that.
   */
  #dropRowOnlyView(key: string): boolean {
    const row = this.#row(key);
    if (row.kind !== 'view') return false;
    deleteSnapshot(this.#ctx.db, row.id);
    return true;
  }

  /**
   * The staging dir of a removal, or null on a full disk: a removal is what gives space back, so
   * it goes on without its intent there. A crash in its one window (row deleted, object not yet
   * destroyed) then leaves an object without a row, never a row without its object, and row ids
   * are never reused: garbage for a collector, not an error.
   */
  #removalStage(): Staging | null {
    try {
      return Staging.create(this.#ctx.staging, 'snapshot-remove', this.#ctx.locks);
    } catch (err) {
      if (isShibafuError(err, 'NO_SPACE')) return null;
      throw err;
    }
  }

  walk(fn: (info: SnapshotInfo) => void): void {
    const infos = this.#ctx.db.read(() => allSnapshots(this.#ctx.db).map((r) => this.#info(r)));
    for (const info of infos) fn(info);
  }

  usage(key: string): SnapshotUsage {
    const row = this.#ctx.db.read(() => this.#row(key));
    if (row.kind === 'view' && !this.#storage.viewObjects) return { size: 0, inodes: 0 };
    return this.#storage.usage(stored(row));
  }

  changeset(key: string): Changeset {
    return this.#ctx.db.read(() => {
      const row = this.#row(key);
      if (row.kind === 'view' && !this.#storage.viewObjects) {
        throw new ShibafuError('SNAPSHOT_STATE', `Cannot give the changeset of view "${key}": a view of the ${this.driver} driver has no files of its own`, {
          hint: 'Read its parents\' changesets, or mount it.',
        });
      }
      const parent = row.parentId === null ? null : snapshotById(this.#ctx.db, row.parentId) ?? null;
      return this.#storage.changeset(stored(row), parent === null ? null : stored(parent));
    });
  }

  sweep(options: SweepOptions = {}): SweptSnapshot[] {
    return sweepSnapshots(this.#ctx, this.#storage, options.stagingNames);
  }

  settle(key: string): void {
    const row = this.#ctx.db.read(() => this.#row(key));
    if (row.kind !== 'active') throw new ShibafuError('SNAPSHOT_STATE', `Cannot settle snapshot "${key}": only an active one changes`);
    this.#storage.settle?.(row.id);
  }

  close(): void {
    this.#storage.close();
  }

  #create(kind: 'active' | 'view', key: string, parent: string | readonly string[] | null, options: PrepareOptions): Mount[] {
    const { db } = this.#ctx;
    const parents = parent === null ? [] : typeof parent === 'string' ? [parent] : [...parent];
    const verb = kind === 'active' ? 'prepare' : 'view';
    if (kind === 'view' && parents.length === 0) throw new ShibafuError('USAGE', `Cannot make view "${key}": name a committed snapshot to view`);
    if (parents.length > 1 && !this.capabilities.stacksChains) {
      throw new ShibafuError('UNSUPPORTED', `Cannot ${verb} snapshot "${key}" on ${parents.length} unrelated chains: the ${this.driver} driver stacks one chain only`, {
        hint: 'Stacking several chains is an overlay feature: use one chain (commit the others on top of it), or a store created with --storage-driver overlay.',
      });
    }
    if (kind === 'view' && !this.#storage.viewObjects) return this.#recordView(key, parents, options);
    const lowers = db.read(() => this.#planLowers(key, verb, parents));
    const stage = Staging.create(this.#ctx.staging, `snapshot-${kind === 'active' ? 'prepare' : 'view'}`, this.#ctx.locks);
    const token = stage.token;
    try {
      // A view or a volatile snapshot does not outlive a reboot: its intents need no fsync
      // (several ms each; a 500-layer `layer mount` is a view).
      const durability = { durable: kind === 'active' && options.volatile !== true };
      stage.setIntent<SnapshotIntent>({ kind: 'snapshot-prepare', token }, durability);
      this.#checkpoint(`${verb}:recorded`);
      this.#storage.build(token, { kind, lowers: lowers.stack });
      this.#checkpoint(`${verb}:built`);
      const labels = { ...options.labels, ...(options.volatile === true ? { 'shibafu.volatile': 'true' } : {}) };
      let inserted: number | undefined;
      try {
        return db.immediate(() => {
          // Checked again under the write lock: another process may have taken the key, or
          // removed a parent, since the plan was read.
          const again = this.#planLowers(key, verb, parents);
          const id = insertSnapshot(db, { key, kind, parentIds: again.tops.map((t) => t.id), created: this.#ctx.now(), labels });
          inserted = id;
          stage.setIntent<SnapshotIntent>({ kind: 'snapshot-prepare', token, id }, durability);
          this.#checkpoint(`${verb}:inserted`);
          this.#storage.publish(token, id);
          this.#checkpoint(`${verb}:published`);
          return this.#storage.mounts({ id, kind }, again.stack, { volatile: options.volatile === true });
        }, durability);
      } catch (err) {
        // The transaction rolled back: undo as the sweep would (the same rule, under the write
        // lock, so the id is no other snapshot's).
        this.#storage.discardStaged(token);
        const id = inserted;
        if (id !== undefined) db.immediate(() => { if (snapshotById(db, id) === undefined) this.#storage.destroy(id); });
        throw err;
      }
    } finally {
      stage.dispose();
    }
  }

  /**
   * A view that is only its row: planned, recorded and given its mounts in one transaction (there
   * is nothing to build outside the write lock, so nothing to check twice).
   */
  #recordView(key: string, parents: readonly string[], options: Omit<PrepareOptions, 'volatile'>): Mount[] {
    const { db } = this.#ctx;
    return db.immediate(() => {
      const { tops, stack } = this.#planLowers(key, 'view', parents);
      const id = insertSnapshot(db, { key, kind: 'view', parentIds: tops.map((t) => t.id), created: this.#ctx.now(), labels: options.labels ?? {} });
      this.#checkpoint('view:inserted');
      return this.#storage.mounts({ id, kind: 'view' }, stack, { volatile: false });
    }, NOT_DURABLE);
  }

  /** The committed chain tops named and the whole stack under the new snapshot, bottom first. */
  #planLowers(key: string, verb: string, parents: readonly string[]): { tops: SnapshotRow[]; stack: StoredSnapshot[] } {
    const { db } = this.#ctx;
    if (snapshotByKey(db, key) !== undefined) {
      throw new ShibafuError('SNAPSHOT_EXISTS', `Cannot ${verb} snapshot "${key}": a snapshot has that key`, { hint: 'Use another key, or remove the existing snapshot.' });
    }
    const tops: SnapshotRow[] = [];
    for (const name of parents) {
      const p = snapshotByKey(db, name);
      if (p === undefined) throw new ShibafuError('SNAPSHOT_NOT_FOUND', `Cannot ${verb} snapshot "${key}": its parent "${name}" does not exist`);
      if (p.kind !== 'committed') {
        throw new ShibafuError('SNAPSHOT_STATE', `Cannot ${verb} snapshot "${key}" on "${name}": the parent is ${p.kind === 'view' ? 'a view' : 'active'}, not committed`, {
          hint: 'Commit it first.',
        });
      }
      tops.push(p);
    }
    const stack = this.#lowers(tops.map((t) => t.id));
    const max = this.capabilities.maxDepth;
    if (max !== null && stack.length > max) {
      throw new ShibafuError('STACK_TOO_DEEP', `Cannot ${verb} snapshot "${key}": its stack has ${stack.length} layers, the ${this.driver} driver mounts at most ${max}`, {
        hint: 'Flatten part of the stack into one layer: mount it writable (or run a container on it), commit, and build on the result.',
        details: { depth: stack.length, limit: max },
      });
    }
    return { tops, stack };
  }

  /**
   * Each chain under `ids` (their tops, bottom first), bottom first, a snapshot in two only once.
   * Every snapshot of a chain under a committed top is committed: a parent must be.
   */
  #lowers(ids: readonly number[]): StoredSnapshot[] {
    const stack: StoredSnapshot[] = [];
    const seen = new Set<number>();
    for (const top of ids) {
      for (const id of chainIdsOf(this.#ctx.db, top)) {
        if (seen.has(id)) continue;
        seen.add(id);
        stack.push({ id, kind: 'committed' });
      }
    }
    return stack;
  }

  #row(key: string): SnapshotRow {
    const row = snapshotByKey(this.#ctx.db, key);
    if (row === undefined) throw new ShibafuError('SNAPSHOT_NOT_FOUND', `Cannot find snapshot "${key}"`, { hint: 'List them with walk().' });
    return row;
  }

  #assertFree(name: string): void {
    if (snapshotByKey(this.#ctx.db, name) !== undefined) {
      throw new ShibafuError('SNAPSHOT_EXISTS', `Cannot commit as "${name}": a snapshot has that name`, { hint: 'The same content is already committed: use it.' });
    }
  }

  #info(row: SnapshotRow): SnapshotInfo {
    const ids = parentIdsOf(this.#ctx.db, row);
    const names = ids.map((id) => snapshotById(this.#ctx.db, id)?.key ?? `#${id}`);
    return { kind: row.kind, name: row.key, parent: names.at(-1) ?? null, parents: names, created: row.created, labels: withoutInternal(row.labels) };
  }

  #checkpoint(point: string): void {
    this.#ctx.checkpoint?.(point);
  }
}

function stored(row: SnapshotRow): StoredSnapshot {
  return { id: row.id, kind: row.kind };
}

/** Labels under `shibafu.` are the driver's own bookkeeping, not the caller's. */
function withoutInternal(labels: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => !k.startsWith('shibafu.')));
}
