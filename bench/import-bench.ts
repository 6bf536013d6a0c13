/**
 * Import: `bin/shibafu --root R layer create x FILE` (the whole command, Node's start included)
 * against `tar -xf FILE -C DIR && sync -f DIR`, interleaved in one run, for each fixture, plain and
 * gzip. Every run gets a fresh directory on the loop fs (a fresh store root for shibafu); nothing
 * is deleted and re-created in place (REFERENCE.md, the inode trap); a group's trees are removed
 * once all its runs are done.
 * Before each timed run an untimed `sync` flushes what the previous run left dirty.
 *
 * `sync -f DIR` (syncfs of the loop fs, which flushes the loop device and so fsyncs its backing
 * file) is what shibafu's own durability point does; a bare `sync` would also wait for whatever
 * other processes on the machine have dirty on `/`, and charge it to tar alone. On an idle
 * machine the two are the same.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './bench-context.js';
import { ensureFixture, type Fixture, type FixtureId } from './fixtures.js';
import { have, inodeCount, median, nowMs, run, syncAll, timeCommand, type Timed } from './measure.js';

const IMPORT_RATIO_TARGET = { max: 1.5, text: '<= 1.5x tar' };
const RSS_TARGET = { max: 150, text: '< 150 MiB' };

type Variant = 'tar' | 'tar.gz';

export async function importBench(ctx: BenchContext, fixtureIds: readonly FixtureId[] = ['mixed', 'small50k']): Promise<void> {
  const fixtures = fixtureIds.map((id) => ensureFixture(id, ctx.cacheDir, ctx.lfs.fresh('gen', id), ctx.log));
  ctx.extra.fixtures = fixtures;
  for (const f of fixtures) {
    for (const variant of ['tar', 'tar.gz'] as const) {
      measurePair(ctx, f, variant);
      // All runs of the group are done: their trees go now, or a full run would need ~2M inodes.
      // The loop fs has a journal, so the freed inodes are reused at full speed (no inode trap),
      // and the next group writes into fresh directories anyway.
      const t0 = nowMs();
      fs.rmSync(join(ctx.lfs.mountpoint, 'import', `${f.id}-${variant.replace('.', '')}`), { recursive: true });
      syncAll();
      ctx.log(`  removed the group's trees in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
    }
    podmanImport(ctx, f);
  }
}

function measurePair(ctx: BenchContext, f: Fixture, variant: Variant): void {
  const file = variant === 'tar' ? f.tar : f.gz;
  const group = `${f.id}-${variant.replace('.', '')}`;
  const tarRun = (i: string): Timed => {
    const dir = ctx.lfs.fresh('import', group, `tar-${i}`);
    syncAll();
    return timeCommand(['sh', '-c', `tar -x${variant === 'tar' ? '' : 'z'}f "$1" -C "$2" && sync -f "$2"`, 'sh', file, dir], { scratch: ctx.scratch });
  };
  const shibafuRun = (i: string): Timed => {
    const root = ctx.lfs.fresh('import', group, `shibafu-${i}`);
    syncAll();
    return timeCommand([ctx.shibafuBin, '--root', root, 'layer', 'create', 'x', file], { scratch: ctx.scratch });
  };
  ctx.log(`import ${group}: warm-up, then ${ctx.runs} interleaved runs of each...`);
  // Warm-up: page cache (fixture, node, dist/), and a check that both made the same tree.
  tarRun('warmup');
  shibafuRun('warmup');
  checkSameTree(ctx, group);
  const tar: Timed[] = [];
  const shibafu: Timed[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    // Alternate who goes first, so neither always inherits the other's writeback.
    if (i % 2 === 0) { tar.push(tarRun(String(i))); shibafu.push(shibafuRun(String(i))); } else { shibafu.push(shibafuRun(String(i))); tar.push(tarRun(String(i))); }
    ctx.log(`  run ${i + 1}: tar ${(tar[i]!.wallMs / 1000).toFixed(3)} s, shibafu ${(shibafu[i]!.wallMs / 1000).toFixed(3)} s (${((shibafu[i]!.maxRssKb ?? 0) / 1024).toFixed(0)} MiB)`);
  }
  const tarS = median(tar.map((t) => t.wallMs)) / 1000;
  const shS = median(shibafu.map((t) => t.wallMs)) / 1000;
  const cpu = (ts: Timed[]): string => ts[0]?.userS === null ? '' : `user ${median(ts.map((t) => t.userS ?? 0)).toFixed(2)} s, sys ${median(ts.map((t) => t.sysS ?? 0)).toFixed(2)} s`;
  ctx.rows.push(
    { bench: 'import', name: `${f.id} .${variant}: tar -x${variant === 'tar' ? '' : 'z'}f && sync -f`, value: tarS, unit: 's', note: cpu(tar), samples: tar.map((t) => t.wallMs / 1000) },
    { bench: 'import', name: `${f.id} .${variant}: shibafu layer create`, value: shS, unit: 's', note: cpu(shibafu), samples: shibafu.map((t) => t.wallMs / 1000) },
    { bench: 'import', name: `${f.id} .${variant}: shibafu / tar`, value: shS / tarS, unit: 'x', target: IMPORT_RATIO_TARGET },
  );
  const rss = shibafu.map((t) => t.maxRssKb).filter((x): x is number => x !== null);
  ctx.rows.push(rss.length === 0
    ? { bench: 'import', name: `${f.id} .${variant}: shibafu peak RSS`, value: null, unit: 'MiB', target: RSS_TARGET, note: 'GNU time missing (apt-get install time)' }
    : { bench: 'import', name: `${f.id} .${variant}: shibafu peak RSS`, value: Math.max(...rss) / 1024, unit: 'MiB', target: RSS_TARGET, note: 'max over runs' });
}

/** The warm-up runs' trees must hold the same number of inodes (the layer's snapshot dir vs tar's target). */
function checkSameTree(ctx: BenchContext, group: string): void {
  const base = join(ctx.lfs.mountpoint, 'import', group);
  // The overlay driver keeps a committed layer in snapshots/<id> (docs/on-disk-format.md).
  const snapshots = join(base, 'shibafu-warmup', 'snapshots');
  const id = fs.readdirSync(snapshots).find((n) => /^[0-9]+$/.test(n));
  if (id === undefined) throw new Error(`shibafu made no layer in ${snapshots}`);
  const a = inodeCount(join(base, 'tar-warmup'));
  const b = inodeCount(join(snapshots, id));
  if (a !== b) ctx.log(`  WARNING: tar extracted ${a} inodes, the layer holds ${b}`);
}

/** `podman import` once per fixture (plain tar), with its own store on the loop fs, for reference. */
function podmanImport(ctx: BenchContext, f: Fixture): void {
  const name = `${f.id} .tar: podman import && sync -f (once)`;
  if (!have('podman')) {
    ctx.rows.push({ bench: 'import', name, value: null, unit: 's', note: 'skipped: podman not installed' });
    return;
  }
  const dir = ctx.lfs.fresh('podman', f.id);
  // podman refuses a runroot path longer than 50 characters.
  const runroot = ctx.lfs.fresh(`pr-${f.id}`);
  const args = ['--root', join(dir, 'root'), '--runroot', runroot, '--storage-driver', 'overlay', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'];
  try {
    // A first command initialises the store (not timed: `tar` has nothing like it).
    run('podman', [...args, 'images']);
    syncAll();
    const t = timeCommand(['sh', '-c', 'podman "$@" && sync -f "$0"', dir, ...args, 'import', '--quiet', f.tar, `bench-${f.id}`], { scratch: ctx.scratch });
    const tar = ctx.rows.find((r) => r.name === `${f.id} .tar: tar -xf && sync -f`)?.value ?? null;
    ctx.rows.push(
      { bench: 'import', name, value: t.wallMs / 1000, unit: 's', note: t.maxRssKb === null ? '' : `peak RSS ${(t.maxRssKb / 1024).toFixed(0)} MiB` },
      { bench: 'import', name: `${f.id} .tar: podman / tar`, value: tar === null ? null : t.wallMs / 1000 / tar, unit: 'x' },
    );
  } catch (err) {
    const reason = (err as Error).message.split('\n').slice(0, 2).join(' / ');
    ctx.log(`  podman import skipped: ${reason}`);
    ctx.rows.push({ bench: 'import', name, value: null, unit: 's', note: `skipped: ${reason.slice(0, 120)}` });
  }
}
