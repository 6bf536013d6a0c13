/**
 * The cost per container of the btrfs driver against the overlay driver, through the snapshotter
 * as the store uses it: prepare on a committed ~200 MB base (the "mixed" fixture tree: 4 large
 * files, 150 libraries, 12,000 small files), mount (a bind of a writable subvolume snapshot, or an
 * overlay of the base with a fresh upper), unmount, remove. A second round also appends one byte
 * to the largest file while mounted: overlay copies the whole file up, btrfs copies one extent.
 * Both stores live on one btrfs loop file system (1.5 GiB sparse), so they share the disk and the
 * page cache; overlay on btrfs copies up by reflink (overlay tries a clone first), so a third
 * store, overlay on a journaled ext4 loop file system (overlay's usual home), shows a real copy-up.
 * Needs root.
 *
 * Part of `npm run bench -- drivers` (bench/drivers-bench.ts); alone:
 * `node dist/bench/btrfs-snapshot-bench.js [iterations]` (default 20, after 3 untimed).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Db } from '../src/db/db.js';
import { systemMounter } from '../src/overlay/system-mounter.js';
import { btrfsStorage } from '../src/snapshots/btrfs/btrfs-storage.js';
import { openSnapshotter } from '../src/snapshots/meta-snapshotter.js';
import type { Mounter } from '../src/snapshots/mount.js';
import { overlayStorage } from '../src/snapshots/overlay/overlay-storage.js';
import type { SnapshotStorage } from '../src/snapshots/snapshot-storage.js';
import type { Snapshotter } from '../src/snapshots/snapshotter.js';
import { destroySubvolume, snapshotSubvolume } from '../src/sys/btrfs.js';
import { tryLock } from '../src/sys/flock.js';
import { makeLoopBtrfs } from '../test/helpers/loop-btrfs.js';
import { writeMixedTree } from './fixtures.js';
import { LoopFs } from './loop-fs.js';
import { median, nowMs } from './measure.js';

const LARGEST = 'usr/lib/jvm/lib/modules';

export interface ContainerCost {
  readonly driver: 'btrfs' | 'overlay' | 'overlay-ext4';
  readonly write: boolean;
  readonly iterations: number;
  /** Medians in milliseconds. */
  readonly prepareMs: number;
  readonly mountMs: number;
  readonly writeMs: number;
  readonly unmountMs: number;
  readonly removeMs: number;
  readonly totalMs: number;
  /** p90 of the total. */
  readonly totalP90Ms: number;
  /** `sync -f` of the file system after the round (deferred work: btrfs cleans deleted subvolumes in the background). */
  readonly syncAfterMs: number;
}

interface Store {
  readonly sn: Snapshotter;
  readonly mounter: Mounter;
  readonly target: string;
  close(): void;
}

function openStore(root: string, storage: (root: string) => SnapshotStorage): Store {
  fs.mkdirSync(join(root, 'tmp'), { recursive: true });
  fs.mkdirSync(join(root, 'empty'));
  fs.mkdirSync(join(root, 'target'));
  const db = Db.open(join(root, 'shibafu.db'));
  const mounter = systemMounter({ emptyDir: join(root, 'empty') });
  const sn = openSnapshotter(
    { db, staging: { tmp: join(root, 'tmp') }, locks: { tryLock }, mountTable: mounter, now: () => new Date().toISOString() },
    storage(join(root, 'snapshots')),
  );
  return { sn, mounter, target: join(root, 'target'), close: () => { sn.close(); db.close(); } };
}

/** The base layer: the tree written into an active snapshot, committed as "base". */
function commitBase(store: Store): number {
  store.sn.prepare('base-import');
  const stats = writeMixedTree(store.sn.changeset('base-import').dir);
  store.sn.commit('base', 'base-import');
  return stats.files;
}

interface Steps { prepare: number[]; mount: number[]; write: number[]; unmount: number[]; remove: number[]; total: number[] }

/** One container's life on `store`, its steps' times added to `t`. */
function cycle(store: Store, key: string, write: boolean, t: Steps): void {
  const t0 = nowMs();
  const mounts = store.sn.prepare(key, 'base');
  const t1 = nowMs();
  store.mounter.mount(mounts, store.target);
  const t2 = nowMs();
  if (write) fs.appendFileSync(join(store.target, LARGEST), 'x');
  const t3 = nowMs();
  store.mounter.unmount(store.target);
  const t4 = nowMs();
  store.sn.remove(key);
  const t5 = nowMs();
  t.prepare.push(t1 - t0); t.mount.push(t2 - t1); t.write.push(t3 - t2); t.unmount.push(t4 - t3); t.remove.push(t5 - t4); t.total.push(t5 - t0);
}

/**
 * `iterations` containers on each store, interleaved (one on each in turn, so load elsewhere on
 * the machine hits every store alike), after 3 untimed each; then a `sync -f` of each file system.
 */
function round(stores: readonly (readonly [ContainerCost['driver'], Store, string])[], iterations: number, write: boolean): ContainerCost[] {
  const steps = stores.map((): Steps => ({ prepare: [], mount: [], write: [], unmount: [], remove: [], total: [] }));
  for (let i = -3; i < iterations; i++) {
    stores.forEach(([, store], s) => {
      const warm: Steps = { prepare: [], mount: [], write: [], unmount: [], remove: [], total: [] };
      cycle(store, `c-${write ? 'w' : 'r'}-${i + 3}`, write, i < 0 ? warm : steps[s]!);
    });
  }
  return stores.map(([driver, , fsRoot], s) => {
    const t = steps[s]!;
    const s0 = nowMs();
    spawnSync('sync', ['-f', fsRoot]);
    const syncAfterMs = nowMs() - s0;
    const sorted = [...t.total].sort((a, b) => a - b);
    return {
      driver, write, iterations,
      prepareMs: median(t.prepare), mountMs: median(t.mount), writeMs: median(t.write), unmountMs: median(t.unmount),
      removeMs: median(t.remove), totalMs: median(t.total), totalP90Ms: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] as number,
      syncAfterMs,
    };
  });
}

/**
 * The driver's own share of prepare and remove: the snapshot ioctl (it commits a btrfs
 * transaction before it returns) and the destroy ioctl (the extents are freed later by the
 * cleaner thread), without the snapshotter's SQLite transaction and staging dir.
 */
function rawSubvolumeOps(base: string, scratch: string, iterations: number): { snapshotMs: number; destroyMs: number } {
  const snap: number[] = [];
  const destroy: number[] = [];
  for (let i = -3; i < iterations; i++) {
    const dest = join(scratch, `raw-${i + 3}`);
    const t0 = nowMs();
    snapshotSubvolume(base, dest, { readonly: false });
    const t1 = nowMs();
    destroySubvolume(dest);
    const t2 = nowMs();
    if (i >= 0) { snap.push(t1 - t0); destroy.push(t2 - t1); }
  }
  return { snapshotMs: median(snap), destroyMs: median(destroy) };
}

/**
 * @example
 * const costs = runBtrfsSnapshotBench({ iterations: 20, log: console.error });
 */
export function runBtrfsSnapshotBench(options: { iterations?: number; log?: (s: string) => void } = {}): { costs: ContainerCost[]; raw: { snapshotMs: number; destroyMs: number } } {
  const iterations = options.iterations ?? 20;
  const log = options.log ?? (() => {});
  const loop = makeLoopBtrfs('1536M');
  const ext4Base = fs.mkdtempSync(join(loop.mnt, '..', 'ext4-'));
  let ext4: LoopFs | undefined;
  const stores: Store[] = [];
  try {
    ext4 = LoopFs.create(ext4Base, { size: '1G', bytesPerInode: 8192 });
    const btrfs = openStore(join(loop.mnt, 'btrfs'), (root) => btrfsStorage({ root }));
    stores.push(btrfs);
    const overlay = openStore(join(loop.mnt, 'overlay'), (root) => overlayStorage({ root }));
    stores.push(overlay);
    const overlayExt4 = openStore(ext4.fresh('overlay'), (root) => overlayStorage({ root }));
    stores.push(overlayExt4);
    log('writing the base tree into each store...');
    const files = commitBase(btrfs);
    commitBase(overlay);
    commitBase(overlayExt4);
    spawnSync('sync', ['-f', ext4.mountpoint]);
    spawnSync('sync', ['-f', loop.mnt]);
    log(`base: ${files} files, ${Math.round(Number(spawnSync('du', ['-sb', btrfs.sn.changeset('base').dir], { encoding: 'utf8' }).stdout.split('\t')[0]) / 1e6)} MB`);
    const raw = rawSubvolumeOps(btrfs.sn.changeset('base').dir, fs.mkdtempSync(join(loop.mnt, 'raw-')), iterations);
    log(`raw ioctls: ${JSON.stringify(raw)}`);
    const out: ContainerCost[] = [];
    const all = [['btrfs', btrfs, loop.mnt], ['overlay', overlay, loop.mnt], ['overlay-ext4', overlayExt4, ext4.mountpoint]] as const;
    for (const write of [false, true]) {
      for (const r of round(all, iterations, write)) {
        log(JSON.stringify(r));
        out.push(r);
      }
    }
    return { costs: out, raw };
  } finally {
    for (const s of stores) s.close();
    ext4?.teardown();
    fs.rmSync(ext4Base, { recursive: true, force: true });
    loop.teardown();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { costs, raw } = runBtrfsSnapshotBench({ iterations: Number(process.argv[2] ?? 20), log: (s) => console.error(s) });
  const f = (n: number): string => n.toFixed(2).padStart(7);
  console.log('driver       write  prepare   mount   write unmount  remove   total  p90     sync-after (ms, medians)');
  for (const c of costs) {
    console.log(`${c.driver.padEnd(12)} ${String(c.write).padEnd(5)} ${f(c.prepareMs)} ${f(c.mountMs)} ${f(c.writeMs)} ${f(c.unmountMs)} ${f(c.removeMs)} ${f(c.totalMs)} ${f(c.totalP90Ms)} ${f(c.syncAfterMs)}`);
  }
  console.log(`btrfs ioctls alone: snapshot ${raw.snapshotMs.toFixed(2)} ms, destroy ${raw.destroyMs.toFixed(2)} ms (medians)`);
}
