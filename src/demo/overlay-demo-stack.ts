/**
 * Steps a and b of the overlay demo: a stack of three layers (which one wins a name) and the four
 * directories of a writable overlay mount, read back from the kernel's own mount table.
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { errnoCode, ShibafuError } from '../errors.js';
import { mountAt } from '../sys/mount-info.js';
import type { DemoDirs } from './demo-output.js';
import type { DemoSandbox } from './demo-sandbox.js';
import type { ShownStep } from './demo-step.js';
import { abbreviatePath, columns, labelled, quoted } from './demo-text.js';
import { DEMO_LAYERS, writeTree } from './overlay-demo-trees.js';
import { parseOverlayOptions, type OverlayOptions } from './overlay-options.js';
import { listTree } from './tree-listing.js';

/** One of the demo's layers as the store made it. */
export type DemoLayer = {
  /** The demo's name for it (`base`, `python`, `app`). */
  readonly name: string;
  /** Its name in the store (prefixed when the demo runs in a user's store). */
  readonly storeName: string;
  readonly chainId: string;
  /** Its diff dir: the lowerdir the kernel gets. */
  readonly path: string;
  readonly files: readonly string[];
};

/** What the overlay demo's steps share. */
export interface OverlayRun {
  readonly box: DemoSandbox;
  readonly signal: AbortSignal;
  /** The mount point (`<sandbox>/merged`). */
  readonly merged: string;
  /** Bottom first. */
  readonly layers: DemoLayer[];
  dirs: DemoDirs;
}

/** The top layer of the stack that has `rel`: the one a lookup in merged/ is answered from. */
export function servingLayer(layers: readonly DemoLayer[], rel: string): string | null {
  // The kernel's rule for a stack without whiteouts or opaque dirs (the demo's layers have none).
  for (const layer of [...layers].reverse()) {
    if (fs.existsSync(join(layer.path, rel))) return layer.name;
  }
  return null;
}

/** The overlay options the kernel holds for the mount at `target`. */
function kernelOptions(target: string): OverlayOptions {
  const entry = mountAt(target);
  if (entry === undefined || entry.fsType !== 'overlay') {
    throw new ShibafuError('INTERNAL', `Cannot read the overlay at "${target}" from /proc/self/mountinfo: nothing is mounted there`);
  }
  return parseOverlayOptions(entry.superOptions);
}

/** The demo's name of the layer whose diff dir the kernel calls `lower` (relative: legacy short links). */
function layerAt(run: OverlayRun, lower: string): string {
  const real = fs.realpathSync(resolve(run.box.store.root, lower));
  return run.layers.find((l) => fs.realpathSync(l.path) === real)?.name ?? '?';
}

async function createLayers(run: OverlayRun): Promise<string[]> {
  const trees = run.box.path('trees');
  const rows: string[][] = [];
  let parent: string | undefined;
  for (const spec of DEMO_LAYERS) {
    run.signal.throwIfAborted();
    writeTree(join(trees, spec.name), spec.files);
    const made = await run.box.createLayer(spec.name, { fromDir: join(trees, spec.name), ...(parent === undefined ? {} : { parent }), signal: run.signal });
    const files = Object.keys(spec.files);
    run.layers.push({ name: spec.name, storeName: run.box.layerName(spec.name), chainId: made.chainId ?? '', path: made.path, files });
    rows.push([run.box.layerName(spec.name), files.join(' ')]);
    parent = spec.name;
  }
  // The store copied the trees; the demo's files live in the layers from now on.
  fs.rmSync(trees, { recursive: true, force: true });
  return columns(rows).map((row) => `  ${row}`);
}

/** Tries to create a file; returns the errno code it failed with, or null. */
function tryCreate(path: string): string | null {
  try {
    fs.writeFileSync(path, 'x\n');
    fs.rmSync(path);
    return null;
  } catch (err) {
    return errnoCode(err) ?? 'error';
  }
}

/**
 * Step a: layers base ← python ← app, each with its own test.txt, mounted read-only.
 *
 * @example
 * const shown = await stepStack(run); shown.step.facts.testTxt // 'from app\n'
 */
export async function stepStack(run: OverlayRun): Promise<ShownStep> {
  const made = await createLayers(run);
  const view = await run.box.mount(['app'], run.merged, false);
  const kernel = kernelOptions(view.target);
  const order = kernel.lowers.map((p) => layerAt(run, p));
  const testTxt = fs.readFileSync(join(run.merged, 'test.txt'), 'utf8');
  const servedBy = servingLayer(run.layers, 'test.txt');
  const config = fs.readdirSync(join(run.merged, 'config')).sort().map((name) => ({ name, layer: servingLayer(run.layers, `config/${name}`) }));
  const writeError = tryCreate(join(run.merged, 'probe.txt'));
  // Left mounted until step b, so a learner pausing here (--step) can look at merged/ too.
  run.dirs = { lowers: [...run.layers].reverse().map((l) => l.path), upper: null, work: null, merged: view.target };
  return {
    step: {
      id: 'a',
      title: 'Three layers, one file name: which one wins?',
      did: [
        `created ${run.layers.length} layers (${DEMO_LAYERS.map((l) => l.role).join(', ')}), each the parent of the next:`,
        ...made,
        `mounted ${run.box.layerName('app')} read-only at merged/ (it brings its parents along)`,
      ],
      facts: {
        testTxt, servedBy, lowerdirOrder: order, lowerSyntax: kernel.lowerSyntax,
        config: Object.fromEntries(config.map((c) => [c.name, c.layer])), writeError,
      },
      upper: null,
      why: [
        'The kernel looks a name up in the lowerdirs in the order it was given them, top layer first, and the first layer that has it wins: app\'s test.txt hides python\'s and base\'s, which are still there, unchanged.',
        'Directories are the exception: config/ exists in two layers, so their entries are merged. An image lists its layers bottom first; the kernel wants them top first.',
      ],
    },
    show: [
      ...labelled('saw', columns([
        ['merged/test.txt', `= ${quoted(testTxt)} (from ${servedBy ?? '?'})`],
        ['merged/config/', `= ${config.map((c) => `${c.name} (${c.layer ?? '?'})`).join(', ')}`],
        ['echo x > merged/probe.txt', `→ ${writeError ?? 'ok'}`],
      ]), { raw: true }),
      ...labelled('kernel', [
        '/proc/self/mountinfo lists the lowerdirs top first:',
        ...columns(kernel.lowers.map((p, i) => [`  ${kernel.lowerSyntax ?? 'lowerdir'}${kernel.lowerSyntax === 'lowerdir+' ? '=' : ` #${i + 1} `}${abbreviatePath(p, run.box.dir)}`, order[i] ?? '?'])),
      ], { raw: true }),
    ],
    noUpper: `none: a stack of lowers alone mounts read-only, so creating a file failed (${writeError ?? 'no error?'})`,
  };
}

/**
 * Step b: the same stack mounted writable, and the four directories the kernel now works with.
 *
 * @example
 * const shown = await stepFourDirs(run); run.dirs.upper // '/tmp/.../store/mounts/<id>/upper'
 */
export async function stepFourDirs(run: OverlayRun): Promise<ShownStep> {
  run.box.unmount(run.dirs.merged);
  const view = await run.box.mount(['app'], run.merged, true);
  const kernel = kernelOptions(view.target);
  if (kernel.upper === null || kernel.work === null) throw new ShibafuError('INTERNAL', `Cannot find upperdir and workdir of the writable mount at "${view.target}"`);
  run.dirs = { lowers: kernel.lowers, upper: kernel.upper, work: kernel.work, merged: view.target };
  const work = listTree(kernel.work).map((e) => `${e.path}/`).join(' ');
  const lowers = kernel.lowers.map((p) => [resolve(run.box.store.root, p), layerAt(run, p)]);
  return {
    step: {
      id: 'b',
      title: 'The four directories of a writable mount',
      did: [
        'unmounted the read-only stack',
        `mounted ${run.box.layerName('app')} again at merged/, writable this time:`,
        'the store made an empty upper and work dir for this mount',
      ],
      facts: { lowers: kernel.lowers.map((p) => resolve(run.box.store.root, p)), upper: kernel.upper, work: kernel.work, merged: view.target, workHolds: work },
      upper: listTree(kernel.upper),
      why: [
        'Lowers are only ever read, so one copy of an image serves every container. Everything this mount changes lands in its upperdir.',
        'The kernel makes each change in workdir first (a copy-up, a whiteout) and then renames it into upperdir in one step, so upper never shows a half-made file, even after a crash. A rename cannot cross file systems: that is why workdir must sit beside upperdir.',
        'merged holds nothing itself: every lookup in it is answered from upper or from a lower.',
      ],
    },
    show: [
      ...labelled('lowerdir', [...columns(lowers), 'the layers\' diff dirs: read-only, shared by every mount of them'], { raw: true }),
      ...labelled('upperdir', [kernel.upper, 'this mount\'s own changes, and nothing else'], { raw: true }),
      ...labelled('workdir', [kernel.work, `the kernel's scratch space; it made ${work === '' ? 'nothing yet' : work} at mount time`], { raw: true }),
      ...labelled('merged', [view.target, 'the union view: what a container sees as /'], { raw: true }),
    ],
  };
}
