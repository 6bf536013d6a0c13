/**
 * The storage drivers side by side (issue 11). One store per driver, each holding the busybox base
 * and, on it, the ~200 MB changes image (bench/changes-image.ts):
 *
 *   overlay          on the runner's journaled ext4 loop fs
 *   fuse-overlayfs   the same dirs on the same fs, mounted by the program
 *   btrfs            a btrfs loop device of its own (test/helpers/loop-btrfs.ts)
 *   zfs              a pool in a file on zfs-fuse (test/helpers/zfs-pool.ts; its daemon started if none answers)
 *
 * measured in process through the library (the driver's cost, without Node's start): the import
 * of the image; a container's create + start (runc, `true`, attached) + remove; a container
 * snapshot's prepare + mount + umount + remove on the image (what a container costs the driver
 * alone); `container diff` and `container commit` (stopped) of the 1,000 changes. Each figure also
 * as a ratio to overlay's. Then the two driver-specific benchmarks: btrfs snapshots against overlay
 * mounts per container (bench/btrfs-snapshot-bench.ts) and fuse-overlayfs's walk and read penalty
 * against kernel overlay on the same tree (bench/fuse-overlay-bench.ts).
 *
 * A driver that cannot run here (its program, module or device missing) is skipped with the
 * reason, in the log and in its rows. Run alone: `npm run bench -- drivers`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { containersOf, openStore, type Store } from '../src/index.js';
import { containerConfig } from '../src/container/container-config.js';
import type { StorageDriver } from '../src/snapshots/snapshotter.js';
import { probeFuseOverlay } from '../src/sys/fuse-overlayfs.js';
import { makeBusyboxTar } from '../test/fixtures/rootfs-busybox.js';
import { makeLoopBtrfs, needsBtrfs } from '../test/helpers/loop-btrfs.js';
import { createZfsTestPool, zfsUnavailable } from '../test/helpers/zfs-pool.js';
import type { BenchContext } from './bench-context.js';
import { runBtrfsSnapshotBench } from './btrfs-snapshot-bench.js';
import { changesImageTar, makeEdits } from './changes-image.js';
import { benchFuseOverlay } from './fuse-overlay-bench.js';
import { median, nowMs, syncAll } from './measure.js';
import type { Row } from './report.js';

const DRIVERS: readonly StorageDriver[] = ['overlay', 'fuse-overlayfs', 'btrfs', 'zfs'];
/** Rounds of a container snapshot's life per driver (zfs-fuse's take ~150 ms each). */
const SNAPSHOT_ROUNDS = 15;
/** Containers per round of the btrfs benchmark, after its 3 untimed ones. */
const BTRFS_ITERATIONS = 20;
const FUSE_ROUNDS = 3;

/** Where a driver's store lives, and how to take it down. */
interface Place {
  readonly root: string;
  readonly options: Readonly<Record<string, string>>;
  readonly where: string;
  teardown(): void;
}

/** Medians in ms. */
interface DriverFigures {
  readonly driver: StorageDriver;
  readonly where: string;
  readonly importMs: number;
  readonly life: { readonly total: number; readonly create: number; readonly start: number; readonly remove: number };
  readonly snapshot: { readonly total: number; readonly prepare: number; readonly mount: number; readonly umount: number; readonly remove: number };
  readonly diffMs: number;
  readonly commitMs: number;
  /** Changes `container diff` listed. */
  readonly listed: number;
}

/**
 * Adds the `drivers` rows to `ctx.rows` (called by bench/run.ts).
 *
 * @example
 * await driversBench(ctx);
 */
export async function driversBench(ctx: BenchContext): Promise<void> {
  const image = changesImageTar(ctx, 1);
  const busybox = join(ctx.lfs.fresh('drivers', 'inputs'), 'base.tar');
  makeBusyboxTar(ctx.lfs.fresh('drivers', 'busybox'), busybox);
  const tag = `${(image.bytes / 2 ** 20).toFixed(0)} MiB image, 1,000 changes`;
  const figures: DriverFigures[] = [];
  for (const driver of DRIVERS) {
    const place = placeFor(ctx, driver);
    if ('skipped' in place) {
      ctx.log(`drivers: ${driver} skipped: ${place.skipped}`);
      ctx.rows.push({ bench: 'drivers', name: `${driver}: ${tag}`, value: null, unit: 'ms', note: `skipped: ${place.skipped}` });
      continue;
    }
    try {
      ctx.log(`drivers: ${driver} (${place.where})...`);
      const f = await measureDriver(ctx, driver, place, { image: image.tar, busybox });
      ctx.log(`  ${JSON.stringify(f)}`);
      figures.push(f);
    } catch (err) {
      // One driver failing (zfs-fuse's daemon stopped by its owner, a full pool) leaves the others' figures.
      const reason = firstLine(err);
      ctx.log(`drivers: ${driver} failed: ${reason}`);
      ctx.rows.push({ bench: 'drivers', name: `${driver}: ${tag}`, value: null, unit: 'ms', note: `failed: ${reason}` });
    } finally {
      try {
        place.teardown();
      } catch (err) {
        ctx.log(`drivers: ${driver}: teardown failed: ${firstLine(err)}`);
      }
    }
  }
  ctx.rows.push(...driverRows(figures, tag));
  ctx.extra.drivers = figures;
  btrfsRows(ctx);
  fuseRows(ctx);
}

function placeFor(ctx: BenchContext, driver: StorageDriver): Place | { skipped: string } {
  switch (driver) {
    case 'overlay':
      return { root: ctx.lfs.fresh('drivers', 'overlay'), options: {}, where: 'the loop ext4', teardown: () => {} };
    case 'fuse-overlayfs': {
      const probe = probeFuseOverlay({ version: false });
      if (probe.program === null || probe.reason !== null) return { skipped: probe.reason ?? 'no fuse-overlayfs program' };
      return { root: ctx.lfs.fresh('drivers', 'fuse-overlayfs'), options: {}, where: `${probe.program} on the loop ext4`, teardown: () => {} };
    }
    case 'btrfs': {
      if (needsBtrfs !== false) return { skipped: needsBtrfs };
      const loop = makeLoopBtrfs('2G', ctx.scratch);
      return { root: join(loop.mnt, 'store'), options: {}, where: 'a 2 GiB btrfs loop device', teardown: () => loop.teardown() };
    }
    case 'zfs': {
      const why = zfsUnavailable();
      if (why !== false) return { skipped: why };
      const zp = createZfsTestPool({ sizeMiB: 1536 });
      const dataset = `${zp.pool}/store`;
      const created = spawnSync('zfs', ['create', '-o', `mountpoint=${join(zp.dir, 'store')}`, dataset], { encoding: 'utf8' });
      if (created.status !== 0) {
        zp.destroy();
        return { skipped: `zfs create failed: ${created.stderr.trim()}` };
      }
      return {
        root: ctx.lfs.fresh('drivers', 'zfs'), options: { 'zfs.fsname': dataset },
        where: `a 1.5 GiB pool in a file on zfs-fuse${zp.startedDaemon ? ' (daemon started for the run)' : ''}`, teardown: () => zp.destroy(),
      };
    }
    default:
      return { skipped: `not a store driver: ${driver}` };
  }
}

async function measureDriver(ctx: BenchContext, driver: StorageDriver, place: Place, inputs: { image: string; busybox: string }): Promise<DriverFigures> {
  const store = openStore({ root: place.root, storageDriver: driver, storageOptions: place.options });
  const made: string[] = [];
  try {
    await store.createLayer({ name: 'base', source: inputs.busybox });
    syncAll();
    const t0 = nowMs();
    await store.createLayer({ name: 'image', source: inputs.image, parent: 'base' });
    const importMs = nowMs() - t0;
    const life = await containerLife(ctx, store);
    const snapshot = snapshotLife(ctx, store, driver);
    const changes = await diffAndCommit(ctx, store, made);
    return { driver, where: place.where, importMs, life, snapshot, ...changes };
  } finally {
    const containers = await containersOf(store);
    for (const name of made) await containers.remove(name, { force: true }).catch(() => false);
    store.close();
  }
}

/** create + start (attached: runc runs `true`, waited for) + remove, one container a round. */
async function containerLife(ctx: BenchContext, store: Store): Promise<DriverFigures['life']> {
  const containers = await containersOf(store);
  const config = containerConfig({ args: ['true'] });
  const t = { total: [] as number[], create: [] as number[], start: [] as number[], remove: [] as number[] };
  for (let i = -1; i < ctx.runs; i++) {
    const name = `life${i + 1}`;
    const t0 = nowMs();
    await containers.create({ layers: ['image'], name, config });
    const t1 = nowMs();
    const { status } = await containers.attach(name, { stdio: ['ignore', 'ignore', 'ignore'] });
    const t2 = nowMs();
    await containers.remove(name);
    const t3 = nowMs();
    if (status !== 0) throw new Error(`drivers: the container ${name} exited ${status}`);
    if (i < 0) continue;
    t.total.push(t3 - t0); t.create.push(t1 - t0); t.start.push(t2 - t1); t.remove.push(t3 - t2);
  }
  return { total: median(t.total), create: median(t.create), start: median(t.start), remove: median(t.remove) };
}

/**
 * A container snapshot on the image through the snapshotter and the mounter alone: prepare,
 * mount, umount, remove (what the driver adds to a container, without runc or the store's rows).
 */
function snapshotLife(ctx: BenchContext, store: Store, driver: StorageDriver): DriverFigures['snapshot'] {
  const { snapshots, mounter } = store.context;
  const top = store.resolve('image').chainId!;
  const target = ctx.lfs.fresh('drivers', `${driver}-target`);
  const t = { total: [] as number[], prepare: [] as number[], mount: [] as number[], umount: [] as number[], remove: [] as number[] };
  for (let i = -2; i < SNAPSHOT_ROUNDS; i++) {
    const key = `bench-${i + 2}`;
    const t0 = nowMs();
    const mounts = snapshots.prepare(key, top);
    const t1 = nowMs();
    mounter.mount(mounts, target);
    const t2 = nowMs();
    mounter.unmount(target);
    const t3 = nowMs();
    snapshots.remove(key);
    const t4 = nowMs();
    if (i < 0) continue;
    t.total.push(t4 - t0); t.prepare.push(t1 - t0); t.mount.push(t2 - t1); t.umount.push(t3 - t2); t.remove.push(t4 - t3);
  }
  return { total: median(t.total), prepare: median(t.prepare), mount: median(t.mount), umount: median(t.umount), remove: median(t.remove) };
}

/**
 * `container diff` of a container with the 1,000 edits (read again each round); `container
 * commit` of a stopped one, each round a fresh container with the same edits (a commit takes the
 * container's changes into the layer), made before the clock starts. One untimed round each.
 */
async function diffAndCommit(ctx: BenchContext, store: Store, made: string[]): Promise<{ diffMs: number; commitMs: number; listed: number }> {
  const containers = await containersOf(store);
  const config = containerConfig({ args: ['true'] });
  const edited = async (name: string): Promise<void> => {
    const view = await containers.create({ layers: ['image'], name, config });
    made.push(name);
    makeEdits(view.paths.merged, 1);
    fs.writeFileSync(join(view.paths.merged, 'commit-marker'), name);
  };
  await edited('c');
  const diff: number[] = [];
  let listed = 0;
  for (let i = -1; i < ctx.runs; i++) {
    syncAll();
    const t0 = nowMs();
    listed = (await store.getLayerChanges(await containers.layers('c'))).length;
    if (i >= 0) diff.push(nowMs() - t0);
  }
  const commit: number[] = [];
  for (let i = -1; i < ctx.runs; i++) {
    const name = `k${i + 1}`;
    await edited(name);
    syncAll();
    const t0 = nowMs();
    await containers.commit(name, `${name}-img`);
    if (i >= 0) commit.push(nowMs() - t0);
  }
  return { diffMs: median(diff), commitMs: median(commit), listed };
}

function driverRows(figures: readonly DriverFigures[], tag: string): Row[] {
  const overlay = figures.find((f) => f.driver === 'overlay');
  const rows: Row[] = [];
  const ratio = (name: string, value: (f: DriverFigures) => number): void => {
    for (const f of figures) {
      if (f === overlay || overlay === undefined) continue;
      rows.push({ bench: 'drivers', name: `${f.driver} / overlay: ${name}`, value: value(f) / value(overlay), unit: 'x' });
    }
  };
  for (const f of figures) {
    const d = f.driver;
    rows.push(
      { bench: 'drivers', name: `${d}: import of the ${tag.split(',')[0]} (on busybox)`, value: f.importMs, unit: 'ms', note: f.where },
      {
        bench: 'drivers', name: `${d}: container create + start + remove (runc, true)`, value: f.life.total, unit: 'ms',
        note: `create ${f.life.create.toFixed(1)}, start ${f.life.start.toFixed(1)}, remove ${f.life.remove.toFixed(1)} ms`,
      },
      {
        bench: 'drivers', name: `${d}: container snapshot prepare + mount + umount + remove`, value: f.snapshot.total, unit: 'ms',
        note: `prepare ${f.snapshot.prepare.toFixed(2)}, mount ${f.snapshot.mount.toFixed(2)}, umount ${f.snapshot.umount.toFixed(2)}, remove ${f.snapshot.remove.toFixed(2)} ms; ${SNAPSHOT_ROUNDS} rounds`,
      },
      { bench: 'drivers', name: `${d}: container diff, ${tag} (in process)`, value: f.diffMs, unit: 'ms', note: `${f.listed} listed` },
      { bench: 'drivers', name: `${d}: container commit of a stopped container, ${tag} (in process)`, value: f.commitMs, unit: 'ms' },
    );
  }
  ratio('import', (f) => f.importMs);
  ratio('container create + start + remove', (f) => f.life.total);
  ratio('container snapshot life', (f) => f.snapshot.total);
  ratio('container diff', (f) => f.diffMs);
  ratio('container commit', (f) => f.commitMs);
  return rows;
}

/** bench/btrfs-snapshot-bench.ts: per container, btrfs against overlay on the same btrfs and on ext4. */
function btrfsRows(ctx: BenchContext): void {
  const name = 'btrfs snapshot against overlay mount, per container (prepare + mount + umount + remove)';
  if (needsBtrfs !== false) {
    ctx.rows.push({ bench: 'drivers', name, value: null, unit: 'ms', note: `skipped: ${needsBtrfs}` });
    return;
  }
  ctx.log(`drivers: btrfs snapshots against overlay mounts (${BTRFS_ITERATIONS} containers a round)...`);
  const { costs, raw } = runBtrfsSnapshotBench({ iterations: BTRFS_ITERATIONS, log: ctx.log });
  ctx.extra.btrfsSnapshots = { costs, raw };
  const label = { btrfs: 'btrfs (writable subvolume snapshot, bind)', overlay: 'overlay on the same btrfs', 'overlay-ext4': 'overlay on a journaled ext4' } as const;
  for (const c of costs) {
    ctx.rows.push({
      bench: 'drivers', name: `per container on a 215 MB base, ${label[c.driver]}${c.write ? ', 1 byte appended to a 35 MB file' : ''}`, value: c.totalMs, unit: 'ms',
      note: `prepare ${c.prepareMs.toFixed(2)}, mount ${c.mountMs.toFixed(2)}, write ${c.writeMs.toFixed(2)}, umount ${c.unmountMs.toFixed(2)}, remove ${c.removeMs.toFixed(2)}; p90 ${c.totalP90Ms.toFixed(1)} ms`,
    });
  }
  for (const write of [false, true]) {
    const b = costs.find((c) => c.driver === 'btrfs' && c.write === write);
    const o = costs.find((c) => c.driver === 'overlay-ext4' && c.write === write);
    if (b !== undefined && o !== undefined) {
      ctx.rows.push({ bench: 'drivers', name: `per container on a 215 MB base, btrfs / overlay on ext4${write ? ', with the 1-byte write' : ''}`, value: b.totalMs / o.totalMs, unit: 'x' });
    }
  }
  ctx.rows.push({ bench: 'drivers', name: 'btrfs ioctls alone: writable snapshot of the 215 MB subvolume', value: raw.snapshotMs, unit: 'ms', note: `destroy ${raw.destroyMs.toFixed(2)} ms` });
}

/** bench/fuse-overlay-bench.ts: walk and read through fuse-overlayfs against kernel overlay, cold and warm. */
function fuseRows(ctx: BenchContext): void {
  const probe = probeFuseOverlay({ version: false });
  if (probe.program === null || probe.reason !== null) {
    ctx.rows.push({ bench: 'drivers', name: 'fuse-overlayfs / kernel overlay: walk and read', value: null, unit: 'x', note: `skipped: ${probe.reason ?? 'no program'}` });
    return;
  }
  ctx.log(`drivers: fuse-overlayfs against kernel overlay, walk and read, ${FUSE_ROUNDS} rounds (drops the page cache)...`);
  const rows = benchFuseOverlay(FUSE_ROUNDS, ctx.lfs.fresh('drivers', 'fuse-read'));
  ctx.extra.fuseOverlay = rows;
  for (const cache of ['cold', 'warm'] as const) {
    const k = rows.find((r) => r.mount === 'overlay' && r.cache === cache);
    const f = rows.find((r) => r.mount === 'fuse-overlayfs' && r.cache === cache);
    if (k === undefined || f === undefined) continue;
    const what = `${(k.bytes / 2 ** 20).toFixed(0)} MiB, ${k.files} nodes`;
    ctx.rows.push(
      { bench: 'drivers', name: `fuse-overlayfs / kernel overlay: walk (lstat every node), ${cache}`, value: f.walkMs / k.walkMs, unit: 'x', note: `${f.walkMs.toFixed(0)} / ${k.walkMs.toFixed(0)} ms; ${what}` },
      { bench: 'drivers', name: `fuse-overlayfs / kernel overlay: read every byte, ${cache}`, value: f.readMs / k.readMs, unit: 'x', note: `${f.readMs.toFixed(0)} / ${k.readMs.toFixed(0)} ms` },
    );
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);
}
