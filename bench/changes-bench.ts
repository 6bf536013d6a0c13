/**
 * `container diff` / `container commit` equivalents against `podman diff` / `podman commit` (issue 3):
 * a container that changed 1,000 files (400 modified, 300 deleted, 300 added) of a ~200 MB image,
 * then the same on a 10x larger image (10 copies of the tree: ~2 GB, 120,000 files). Targets: diff
 * no slower than podman's whole command, and flat as the image grows; commit at least 3x faster.
 *
 * shibafu's side: the image is a layer, the container a `shibafu container create` on it (not
 * started), and each timed run the CLI itself: `bin/shibafu container diff c` and `bin/shibafu
 * container commit c NAME`, Node's start included. The library calls under them are also timed
 * in process (no Node start). podman's side: the
 * same tar through `podman import`, `podman create`, `podman mount`, the same edits on its merged
 * dir, then `podman diff` / `podman commit` of the (not running) container, with its own store.
 * Everything lives on the bench's loop fs (REFERENCE.md: the inode trap of `/`).
 *
 * Run alone: `node dist/bench/changes-bench.js run [--scale 1,10] [--runs N]` (root).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchContext } from './bench-context.js';
import { LoopFs, LOOP_FS_DEFAULTS } from './loop-fs.js';
import { benchEnv, have, median, nowMs, run, podmanStore, syncAll, timeCommand } from './measure.js';
import { changesImageTar, makeEdits } from './changes-image.js';
import type { Row, Target } from './report.js';
import { openStore, type Store } from '../src/store/store.js';
import { expandStack } from '../src/store/layer-mounts.js';
import { getLayerChanges } from '../src/store/layer-changes.js';
import { commitUpper } from '../src/store/layer-from-upper.js';
import { changeTotals } from '../src/changes/change.js';
import { containersOf } from '../src/index.js';
import { containerUpper } from '../src/container/container-mount.js';

/** A row of this benchmark (bench/report.ts's Row, whose `bench` union needs 'changes' added). */
export type ChangesRow = Omit<Row, 'bench'> & { readonly bench: 'changes' };

export interface ScaleFigures {
  readonly scale: number;
  readonly image: { readonly files: number; readonly tarBytes: number };
  readonly changes: ReturnType<typeof changeTotals> & { readonly listed: number };
  /** Medians in ms: whole commands (child processes) and the library calls in process. */
  readonly shibafu: {
    readonly diffMs: number; readonly diffInProcessMs: number; readonly commitMs: number; readonly commitInProcessMs: number;
    /** The copy of an upper (what the commit of a running container does, paused), in process. */
    readonly copyInProcessMs: number;
    /** The same commands through the store's service (`service start`): no Node start per command. */
    readonly diffServiceMs: number; readonly commitServiceMs: number;
  };
  readonly podman: { readonly diffMs: number; readonly commitMs: number; readonly listed: number } | { readonly skipped: string };
}

export interface ChangesFigures {
  /** `node -e 0`, as the children start. */
  readonly nodeStartMs: number;
  readonly scales: readonly ScaleFigures[];
  readonly rows: readonly ChangesRow[];
}

export interface ChangesBenchOptions {
  /** Image sizes, in copies of the ~200 MB tree (default [1, 10]). */
  readonly scales?: readonly number[];
}

const DIFF_TARGET: Target = { max: 1, text: '<= 1x podman diff' };
const FLAT_TARGET: Target = { max: 1.5, text: '<= 1.5x (flat)' };
const COMMIT_TARGET: Target = { max: 1 / 3, text: '<= 0.33x podman commit' };
const SELF = fileURLToPath(import.meta.url);

/**
 * Runs the benchmark on `ctx`'s loop fs and returns its figures and rows.
 *
 * @example
 * const figures = await benchChanges(ctx); ctx.rows.push(...figures.rows);
 */
export async function benchChanges(ctx: BenchContext, options: ChangesBenchOptions = {}): Promise<ChangesFigures> {
  const scales: ScaleFigures[] = [];
  for (const scale of options.scales ?? [1, 10]) scales.push(await measureScale(ctx, scale));
  const nodeStart = nodeStartMs(ctx);
  return { nodeStartMs: nodeStart, scales, rows: toRows(scales, nodeStart) };
}

async function measureScale(ctx: BenchContext, scale: number): Promise<ScaleFigures> {
  const image = changesImageTar(ctx, scale);
  const free = ctx.lfs.usage().availBytes;
  if (free < image.bytes * 3) throw new Error(`changes x${scale}: the loop fs has ${free} bytes free, needs ~${image.bytes * 3}`);
  const root = ctx.lfs.fresh('changes', `x${scale}`, 'store');
  ctx.log(`changes x${scale}: importing ${(image.bytes / 2 ** 20).toFixed(0)} MiB into shibafu and editing 1,000 files of a container...`);
  const store = openStore({ root });
  try {
    await store.createLayer({ name: 'image', source: image.tar });
  } finally {
    store.close();
  }
  // A real container, as podman's side has one: created (stack mounted, fresh upper), not started.
  const cli = (...args: string[]): string => run(ctx.shibafuBin, ['--root', root, ...args], { env: benchEnv() });
  const containerId = cli('container', 'create', '--name', 'c', 'image', '/bin/true').trim();
  const reopened = openStore({ root });
  let shibafu: ScaleFigures['shibafu'];
  let listed = 0;
  let totals: ReturnType<typeof changeTotals>;
  try {
    const layout = reopened.context.layout;
    const merged = layout.containerMerged(containerId);
    makeEdits(merged, scale);
    const stack = expandStack(reopened.context, [reopened.resolve('image')]);
    const upper = containerUpper(reopened.context, containerId);
    const changes = getLayerChanges(reopened.context, { upper, stack });
    listed = changes.length;
    totals = changeTotals(changes);
    shibafu = await timeShibafu(ctx, reopened, { root, merged, upper, stack }, scale);
  } finally {
    reopened.close();
    cli('container', 'rm', '--force', 'c');
  }
  const podman = measurePodman(ctx, scale, image.tar);
  return { scale, image: { files: image.files, tarBytes: image.bytes }, changes: { ...totals, listed }, shibafu, podman };
}

interface ShibafuContainer {
  readonly root: string;
  readonly merged: string;
  readonly upper: string;
  readonly stack: ReturnType<typeof expandStack>;
}

/**
 * The whole commands are the CLI a user runs (`bin/shibafu container diff c`, `container commit
 * c NAME`), Node's start included; the in-process figures are the library calls under them.
 *
 * A commit of a container that does not run moves its upper into the layer and leaves it with an
 * empty one (container-commit.ts), so every timed commit gets a container of its own, made before
 * the clock starts: created on the image, the same 1,000 edits, plus one file naming it so that
 * every commit makes a new layer. The copy a running container's commit makes (paused) is timed
 * in process on `c`'s upper.
 */
async function timeShibafu(ctx: BenchContext, store: Store, c: ShibafuContainer, scale: number): Promise<ScaleFigures['shibafu']> {
  const timed = (before: () => void, fn: () => number): number[] => Array.from({ length: ctx.runs }, () => { before(); syncAll(); return fn(); });
  const inProcess = (fn: () => unknown) => (): number => { const t = nowMs(); fn(); return nowMs() - t; };
  const nodeCli = { ...benchEnv(), SHIBAFU_SERVICE: 'off' };
  const command = (env: NodeJS.ProcessEnv, ...args: string[]) => (): number => timeCommand([ctx.shibafuBin, '--root', c.root, ...args], { scratch: ctx.scratch, env }).wallMs;
  const none = (): void => {};
  let edited = 0;
  let current = '';
  const made: string[] = [];
  const editedContainer = (): void => {
    current = `k${edited++}`;
    const id = run(ctx.shibafuBin, ['--root', c.root, 'container', 'create', '--name', current, 'image', '/bin/true'], { env: benchEnv() }).trim();
    const merged = store.context.layout.containerMerged(id);
    makeEdits(merged, scale);
    fs.writeFileSync(join(merged, 'commit-marker'), current);
    made.push(current);
  };
  let copies = 0;
  const touch = (): void => fs.writeFileSync(join(c.merged, 'commit-marker'), `${copies++}`);
  command(nodeCli, 'container', 'diff', 'c')(); // warm-up: page cache for node, dist/ and the store
  try {
    const diffIn = timed(none, inProcess(() => getLayerChanges(store.context, { upper: c.upper, stack: c.stack })));
    const diffCmd = timed(none, command(nodeCli, 'container', 'diff', 'c'));
    const copyIn = timed(touch, inProcess(() => commitUpper(store.context, { upper: c.upper, stack: c.stack, name: `copy-${copies}` })));
    const containers = await containersOf(store);
    const commitIn: number[] = [];
    // One untimed commit first, as for the service below: the JIT's first pass over the code.
    for (let i = -1; i < ctx.runs; i++) {
      editedContainer();
      syncAll();
      const t = nowMs();
      await containers.commit(current, `in-process-${current}`);
      if (i >= 0) commitIn.push(nowMs() - t);
    }
    const commitCmd = timed(editedContainer, () => command(nodeCli, 'container', 'commit', current, `committed-${current}`)());
    run(ctx.shibafuBin, ['--root', c.root, 'service', 'start'], { env: benchEnv() });
    try {
      command(benchEnv(), 'container', 'diff', 'c')(); // warm-up of the service
      const diffServed = timed(none, command(benchEnv(), 'container', 'diff', 'c'));
      // Warm-up of the service's commit path (a resident service has run it before).
      editedContainer();
      command(benchEnv(), 'container', 'commit', current, `served-${current}`)();
      const commitServed = timed(editedContainer, () => command(benchEnv(), 'container', 'commit', current, `served-${current}`)());
      const list = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(' ');
      ctx.log(`  commit samples (ms): in process ${list(commitIn)}; service ${list(commitServed)}; Node CLI ${list(commitCmd)}`);
      return {
        diffMs: median(diffCmd), diffInProcessMs: median(diffIn), commitMs: median(commitCmd), commitInProcessMs: median(commitIn),
        copyInProcessMs: median(copyIn), diffServiceMs: median(diffServed), commitServiceMs: median(commitServed),
      };
    } finally {
      spawnSync(ctx.shibafuBin, ['--root', c.root, 'service', 'stop'], { stdio: 'ignore', env: benchEnv() });
    }
  } finally {
    if (made.length > 0) spawnSync(ctx.shibafuBin, ['--root', c.root, 'container', 'rm', '--force', ...made], { stdio: 'ignore', env: benchEnv() });
  }
}

/** `node -e 0` with the same environment: the part of each whole-command figure that is Node's start. */
function nodeStartMs(ctx: BenchContext): number {
  return median(Array.from({ length: ctx.runs }, () => timeCommand([process.execPath, '-e', '0'], { scratch: ctx.scratch, env: benchEnv() }).wallMs));
}

function measurePodman(ctx: BenchContext, scale: number, tar: string): ScaleFigures['podman'] {
  if (!have('podman')) return { skipped: 'podman not installed' };
  const dir = ctx.lfs.fresh('changes', `x${scale}`, 'podman');
  const pm = podmanStore(dir);
  const { args } = pm;
  try {
    ctx.log(`changes x${scale}: podman import, create, mount, the same edits...`);
    run('podman', [...args, 'import', '--quiet', tar, 'bench-image']);
    run('podman', [...args, 'create', '--name', 'c', 'bench-image', '/bin/true']);
    const merged = run('podman', [...args, 'mount', 'c']).trim();
    makeEdits(merged, scale);
    const listed = run('podman', [...args, 'diff', 'c']).trim().split('\n').length;
    const diff = Array.from({ length: ctx.runs + 1 }, () => { syncAll(); return timeCommand(['podman', ...args, 'diff', 'c'], { scratch: ctx.scratch }).wallMs; }).slice(1);
    const commit = Array.from({ length: ctx.runs }, (_, i) => { syncAll(); return timeCommand(['podman', ...args, 'commit', '--quiet', 'c', `bench-commit-${i}`], { scratch: ctx.scratch }).wallMs; });
    return { diffMs: median(diff), commitMs: median(commit), listed };
  } catch (err) {
    const lines = (err as Error).message.split('\n');
    const reason = `${lines[0]?.split(':')[0] ?? ''}: ${lines.slice(1).join(' / ').slice(0, 200)}`;
    ctx.log(`  podman skipped: ${reason}`);
    return { skipped: reason };
  } finally {
    spawnSync('podman', [...args, 'umount', '--all'], { stdio: 'ignore' });
    pm.dispose();
  }
}

function toRows(scales: readonly ScaleFigures[], nodeStart: number): ChangesRow[] {
  const rows: ChangesRow[] = [{ bench: 'changes', name: 'node -e 0 (reference: Node start, in every whole-command figure)', value: nodeStart, unit: 'ms', note: 'as the children run (bench/measure.ts benchEnv)' }];
  for (const s of scales) {
    const tag = `x${s.scale} (${(s.image.tarBytes / 2 ** 20).toFixed(0)} MiB, ${s.image.files} files)`;
    const note = `${s.changes.listed} listed: ${s.changes.added} A, ${s.changes.changed} C, ${s.changes.deleted} D`;
    const pm = 'skipped' in s.podman ? null : s.podman;
    rows.push(
      { bench: 'changes', name: `${tag}: shibafu container diff, through the service`, value: s.shibafu.diffServiceMs, unit: 'ms', note },
      { bench: 'changes', name: `${tag}: service diff / podman diff`, value: pm === null ? null : s.shibafu.diffServiceMs / pm.diffMs, unit: 'x', target: DIFF_TARGET },
      { bench: 'changes', name: `${tag}: shibafu container diff, Node CLI (whole command)`, value: s.shibafu.diffMs, unit: 'ms' },
      { bench: 'changes', name: `${tag}: GetLayerChanges in process`, value: s.shibafu.diffInProcessMs, unit: 'ms' },
      { bench: 'changes', name: `${tag}: podman diff`, value: pm?.diffMs ?? null, unit: 'ms', note: pm === null ? `skipped: ${(s.podman as { skipped: string }).skipped}` : `${pm.listed} listed` },
      { bench: 'changes', name: `${tag}: Node CLI diff / podman diff`, value: pm === null ? null : s.shibafu.diffMs / pm.diffMs, unit: 'x', target: DIFF_TARGET },
      { bench: 'changes', name: `${tag}: shibafu container commit, through the service`, value: s.shibafu.commitServiceMs, unit: 'ms' },
      { bench: 'changes', name: `${tag}: service commit / podman commit`, value: pm === null ? null : s.shibafu.commitServiceMs / pm.commitMs, unit: 'x', target: COMMIT_TARGET },
      { bench: 'changes', name: `${tag}: shibafu container commit, Node CLI (whole command)`, value: s.shibafu.commitMs, unit: 'ms' },
      { bench: 'changes', name: `${tag}: commit of a stopped container in process (its upper moved)`, value: s.shibafu.commitInProcessMs, unit: 'ms' },
      { bench: 'changes', name: `${tag}: copy of the upper in process (a running container's commit, paused)`, value: s.shibafu.copyInProcessMs, unit: 'ms' },
      { bench: 'changes', name: `${tag}: podman commit`, value: pm?.commitMs ?? null, unit: 'ms' },
      { bench: 'changes', name: `${tag}: Node CLI commit / podman commit`, value: pm === null ? null : s.shibafu.commitMs / pm.commitMs, unit: 'x', target: COMMIT_TARGET },
    );
  }
  const [small, big] = [scales.find((s) => s.scale === 1), scales.find((s) => s.scale === 10)];
  if (small !== undefined && big !== undefined) {
    rows.push({ bench: 'changes', name: 'diff x10 / x1, in process (flat as the image grows)', value: big.shibafu.diffInProcessMs / small.shibafu.diffInProcessMs, unit: 'x', target: FLAT_TARGET });
  }
  return rows;
}

/** `run`: the benchmark alone, on its own loop fs, printing the figures as JSON. */
async function standalone(argv: string[]): Promise<void> {
  const opt = (name: string): string | undefined => { const i = argv.indexOf(name); return i < 0 ? undefined : argv[i + 1]; };
  const base = fs.mkdtempSync(join(os.tmpdir(), 'shibafu-changes-bench-'));
  const lfs = LoopFs.create(base, { ...LOOP_FS_DEFAULTS, size: opt('--size') ?? LOOP_FS_DEFAULTS.size });
  const scratch = join(base, 'scratch');
  fs.mkdirSync(scratch);
  try {
    const ctx: BenchContext = {
      lfs, cacheDir: opt('--cache') ?? join(os.tmpdir(), 'shibafu-bench-cache'), scratch, repoRoot: resolve(dirname(SELF), '..', '..'),
      shibafuBin: join(resolve(dirname(SELF), '..', '..'), 'bin', 'shibafu'), runs: Number(opt('--runs') ?? 5), iterations: 1, cliRuns: 1, log: (l) => process.stderr.write(`${l}\n`), rows: [], extra: {},
    };
    const figures = await benchChanges(ctx, { scales: (opt('--scale') ?? '1,10').split(',').map(Number) });
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  } finally {
    lfs.teardown();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === 'run') {
  standalone(process.argv.slice(3)).catch((err: unknown) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exitCode = 1; });
}
