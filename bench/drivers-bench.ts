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
 * alone); `container diff` and `container commit` (stopped) of the 1,000 changes. Rounds take one
 * sample of each from every driver in turn, and each figure's ratio to overlay's is the median of
 * the rounds' own ratios. Then the two driver-specific benchmarks: btrfs snapshots against overlay
 * mounts per container (bench/btrfs-snapshot-bench.ts) and fuse-overlayfs's walk and read penalty
 * against kernel overlay on the same tree (bench/fuse-overlay-bench.ts).
 *
 * A driver that cannot run here (its program, module or device missing) is skipped with the
 * reason, in the log and in its rows. Run alone: `npm run bench -- drivers`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { containersOf, openStore, type Containers, type Store } from '../src/index.js';
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
/** Container snapshot lives per driver and round (zfs-fuse's take ~150 ms each). */
const SNAPSHOT_CYCLES = 3;
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

/** The figures of one round, in ms; a driver gets one sample of each per round. */
interface Sample {
  readonly life: number;
  readonly create: number;
  readonly start: number;
  readonly remove: number;
  /** A container snapshot's prepare + mount + umount + remove: the median of SNAPSHOT_CYCLES. */
  readonly snapshot: number;
  readonly diff: number;
  readonly commit: number;
}

/** A driver's store, ready for rounds: the image imported, `c` holding the 1,000 edits. */
interface Opened {
  readonly driver: StorageDriver;
  readonly place: Place;
  readonly store: Store;
  readonly containers: Containers;
  /** The image's chainId: the parent of the container snapshots. */
  readonly image: string;
  readonly target: string;
  readonly importMs: number;
  /** Changes `container diff` lists. */
  listed: number;
  /** Containers made, removed at the end. */
  readonly made: string[];
  readonly samples: Sample[];
  /** Why it stopped, when a round failed. */
  failed?: string;
}

const FIGURES = [
  ['life', 'container create + start + remove'],
  ['snapshot', 'container snapshot life'],
  ['diff', 'container diff'],
  ['commit', 'container commit'],
] as const;

/**
 * Adds the `drivers` rows to `ctx.rows` (called by bench/run.ts). Every driver's store is set up
 * first; then each round takes one sample of every figure from every driver in turn, so a burst
 * of load elsewhere on the machine hits all of them alike, and each ratio to overlay is the median
 * of the rounds' own ratios (paired, as farm-bench's --vs pairs runs).
 *
 * @example
 * await driversBench(ctx);
 */
export async function driversBench(ctx: BenchContext): Promise<void> {
  const image = changesImageTar(ctx, 1);
  const busybox = join(ctx.lfs.fresh('drivers', 'inputs'), 'base.tar');
  makeBusyboxTar(ctx.lfs.fresh('drivers', 'busybox'), busybox);
  const tag = `${(image.bytes / 2 ** 20).toFixed(0)} MiB image, 1,000 changes`;
  const opened: Opened[] = [];
  try {
    for (const driver of DRIVERS) {
      const o = await setUp(ctx, driver, { image: image.tar, busybox }, tag);
      if (o !== null) opened.push(o);
    }
    for (let round = -1; round < ctx.runs; round++) {
      ctx.log(`drivers: round ${round < 0 ? '(untimed)' : round + 1} of ${ctx.runs}...`);
      for (const o of opened) {
        if (o.failed !== undefined) continue;
        try {
          const s = await sampleRound(o, round + 1);
          if (round >= 0) o.samples.push(s);
        } catch (err) {
          o.failed = firstLine(err);
          ctx.log(`drivers: ${o.driver} failed: ${o.failed}`);
        }
      }
    }
  } finally {
    for (const o of opened) await tearDown(ctx, o);
  }
  ctx.rows.push(...driverRows(opened, tag));
  ctx.extra.drivers = opened.map((o) => ({ driver: o.driver, where: o.place.where, importMs: o.importMs, listed: o.listed, failed: o.failed ?? null, samples: o.samples }));
  btrfsRows(ctx);
  fuseRows(ctx);
}

/** The driver's place and store, the image imported (timed) and `c` edited; null when skipped or failed. */
async function setUp(ctx: BenchContext, driver: StorageDriver, inputs: { image: string; busybox: string }, tag: string): Promise<Opened | null> {
  const place = placeFor(ctx, driver);
  if ('skipped' in place) {
    ctx.log(`drivers: ${driver} skipped: ${place.skipped}`);
    ctx.rows.push({ bench: 'drivers', name: `${driver}: ${tag}`, value: null, unit: 'ms', note: `skipped: ${place.skipped}` });
    return null;
  }
  ctx.log(`drivers: ${driver} (${place.where}): importing the image...`);
  let store: Store | undefined;
  try {
    store = openStore({ root: place.root, storageDriver: driver, storageOptions: place.options });
    await store.createLayer({ name: 'base', source: inputs.busybox });
    syncAll();
    const t0 = nowMs();
    await store.createLayer({ name: 'image', source: inputs.image, parent: 'base' });
    const importMs = nowMs() - t0;
    const o: Opened = {
      driver, place, store, containers: await containersOf(store), image: store.resolve('image').chainId!,
      target: ctx.lfs.fresh('drivers', `${driver}-target`), importMs, listed: 0, made: [], samples: [],
    };
    await editedContainer(o, 'c');
    return o;
  } catch (err) {
    const reason = firstLine(err);
    ctx.log(`drivers: ${driver} failed: ${reason}`);
    ctx.rows.push({ bench: 'drivers', name: `${driver}: ${tag}`, value: null, unit: 'ms', note: `failed: ${reason}` });
    store?.close();
    tearDownPlace(ctx, driver, place);
    return null;
  }
}

/** Removes what the rounds made, closes the store, takes the place down; never throws. */
async function tearDown(ctx: BenchContext, o: Opened): Promise<void> {
  for (const name of o.made) await o.containers.remove(name, { force: true }).catch(() => false);
  o.store.close();
  tearDownPlace(ctx, o.driver, o.place);
}

function tearDownPlace(ctx: BenchContext, driver: StorageDriver, place: Place): void {
  try {
    place.teardown();
  } catch (err) {
    ctx.log(`drivers: ${driver}: teardown failed: ${firstLine(err)}`);
  }
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
        where: `a 1.5 GiB pool in a file on zfs-fuse${zp.startedDaemon ? ' (daemon started for the run)' : ''}`,
        teardown: () => {
          try {
            zp.destroy();
          } catch (err) {
            // A daemon this run did not start may have been stopped by its owner meanwhile: its
            // mounts are dead, and only a lazy unmount takes them away.
            detachUnder(zp.dir);
            fs.rmSync(zp.dir, { recursive: true, force: true });
            throw err;
          }
        },
      };
    }
    default:
      return { skipped: `not a store driver: ${driver}` };
  }
}

/** A container on the image with the 1,000 edits (and a file naming it, so each commit is a new layer). */
async function editedContainer(o: Opened, name: string): Promise<void> {
  const view = await o.containers.create({ layers: ['image'], name, config: TRUE });
  o.made.push(name);
  makeEdits(view.paths.merged, 1);
  fs.writeFileSync(join(view.paths.merged, 'commit-marker'), name);
}

const TRUE = containerConfig({ args: ['true'] });

/** One sample of each figure from one driver; `n` numbers the round (container names). */
async function sampleRound(o: Opened, n: number): Promise<Sample> {
  // create + start (attached: runc runs `true`, waited for) + remove.
  const life = `life${n}`;
  const t0 = nowMs();
  await o.containers.create({ layers: ['image'], name: life, config: TRUE });
  const t1 = nowMs();
  const { status } = await o.containers.attach(life, { stdio: ['ignore', 'ignore', 'ignore'] });
  const t2 = nowMs();
  await o.containers.remove(life);
  const t3 = nowMs();
  if (status !== 0) throw new Error(`the container ${life} exited ${status}`);
  const snapshot = snapshotLife(o, n);
  // `container diff` of `c`, read again each round.
  syncAll();
  const d0 = nowMs();
  o.listed = (await o.store.getLayerChanges(await o.containers.layers('c'))).length;
  const diff = nowMs() - d0;
  // `container commit` of a stopped container: a fresh one each round (a commit takes the
  // container's changes into the layer), made before the clock starts.
  const k = `k${n}`;
  await editedContainer(o, k);
  syncAll();
  const c0 = nowMs();
  await o.containers.commit(k, `${k}-img`);
  const commit = nowMs() - c0;
  return { life: t3 - t0, create: t1 - t0, start: t2 - t1, remove: t3 - t2, snapshot, diff, commit };
}

/**
 * A container snapshot on the image through the snapshotter and the mounter alone: prepare,
 * mount, umount, remove (what the driver adds to a container, without runc or the store's rows);
 * the median of SNAPSHOT_CYCLES.
 */
function snapshotLife(o: Opened, round: number): number {
  const { snapshots, mounter } = o.store.context;
  const times: number[] = [];
  for (let i = 0; i < SNAPSHOT_CYCLES; i++) {
    const key = `bench-${round}-${i}`;
    const t0 = nowMs();
    mounter.mount(snapshots.prepare(key, o.image), o.target);
    mounter.unmount(o.target);
    snapshots.remove(key);
    times.push(nowMs() - t0);
  }
  return median(times);
}

function driverRows(opened: readonly Opened[], tag: string): Row[] {
  const rows: Row[] = [];
  for (const o of opened) {
    const d = o.driver;
    if (o.samples.length === 0) {
      rows.push({ bench: 'drivers', name: `${d}: ${tag}`, value: null, unit: 'ms', note: `failed: ${o.failed ?? 'no sample'}` });
      continue;
    }
    const m = (k: keyof Sample): number => median(o.samples.map((s) => s[k]));
    const failed = o.failed === undefined ? '' : `; stopped after ${o.samples.length} rounds: ${o.failed}`;
    rows.push(
      { bench: 'drivers', name: `${d}: import of the ${tag.split(',')[0]} (on busybox)`, value: o.importMs, unit: 'ms', note: o.place.where },
      { bench: 'drivers', name: `${d}: container create + start + remove (runc, true)`, value: m('life'), unit: 'ms', note: `create ${m('create').toFixed(1)}, start ${m('start').toFixed(1)}, remove ${m('remove').toFixed(1)} ms${failed}` },
      { bench: 'drivers', name: `${d}: container snapshot prepare + mount + umount + remove`, value: m('snapshot'), unit: 'ms', note: `median of ${SNAPSHOT_CYCLES} a round` },
      { bench: 'drivers', name: `${d}: container diff, ${tag} (in process)`, value: m('diff'), unit: 'ms', note: `${o.listed} listed` },
      { bench: 'drivers', name: `${d}: container commit of a stopped container, ${tag} (in process)`, value: m('commit'), unit: 'ms' },
    );
  }
  const overlay = opened.find((o) => o.driver === 'overlay');
  if (overlay === undefined) return rows;
  for (const [key, label] of FIGURES) {
    for (const o of opened) {
      if (o === overlay) continue;
      // Paired: the rounds both drivers finished, each round's own ratio.
      const n = Math.min(o.samples.length, overlay.samples.length);
      const ratios = Array.from({ length: n }, (_, i) => o.samples[i]![key] / overlay.samples[i]![key]);
      rows.push({ bench: 'drivers', name: `${o.driver} / overlay: ${label}`, value: n === 0 ? null : median(ratios), unit: 'x', note: `median of ${n} paired rounds` });
    }
  }
  for (const o of opened) {
    if (o !== overlay) rows.push({ bench: 'drivers', name: `${o.driver} / overlay: import`, value: o.importMs / overlay.importMs, unit: 'x', note: 'one import each, not paired' });
  }
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

/** `umount -l` of every mount at or under `dir`, deepest first (a bench fixture's own clean-up). */
function detachUnder(dir: string): void {
  const points = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  for (const p of points.reverse()) spawnSync('umount', ['-l', p]);
}
