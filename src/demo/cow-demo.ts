/**
 * `shibafu demo cow`: seed 004's copy-on-write demo, for real. A big file in a lower layer: reading
 * it copies nothing; appending one byte copies all of it up (timed); the disk it then takes twice;
 * and how writes through the overlay compare with writes to the host file system.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { CleanupReport, DemoOutput, DemoStep } from './demo-output.js';
import type { DemoSandbox } from './demo-sandbox.js';
import { withSandbox } from './demo-sandbox.js';
import { runSteps, type ShownStep } from './demo-step.js';
import { columns, formatBytes, formatMs, labelled } from './demo-text.js';
import { appendByte, assertFree, readWholeFile, settle, timed, writeFileOfSize } from './cow-io.js';
import { diskUsage, listTree } from './tree-listing.js';

/** The seed's 50 MB file. */
export const DEFAULT_COW_SIZE = 50 * 1024 * 1024;

export interface CowDemoOptions {
  /** Size of the lower file in bytes. */
  readonly size: number;
  readonly tmpDir: string;
  /** A store to work in; null (the default) for a throw-away store in the sandbox. */
  readonly root: string | null;
  readonly keep: boolean;
  readonly out: DemoOutput;
  readonly signal: AbortSignal;
}

export interface CowTimings {
  readonly readMs: number;
  /** The first append through the overlay: the copy-up plus one byte. */
  readonly copyUpMs: number;
  /** A second append through the overlay, once the file is in upper. */
  readonly appendAgainMs: number;
  /** `cp` of the file on the host file system: what the copy-up amounts to. */
  readonly directCopyMs: number;
  readonly directAppendMs: number;
  readonly directAppendAgainMs: number;
  /** A new file of `size` bytes written and fsynced, directly and through the overlay. */
  readonly directWriteMs: number;
  readonly overlayWriteMs: number;
}

export type DiskUse = { readonly lower: number; readonly upper: number };

export interface CowDemoResult {
  readonly demo: 'cow';
  readonly sandbox: string;
  readonly store: string;
  readonly throwAwayStore: boolean;
  readonly size: number;
  /** Bytes of disk (st_blocks × 512) before and after the one-byte append. */
  readonly disk: { readonly before: DiskUse; readonly after: DiskUse };
  readonly timings: CowTimings;
  readonly steps: readonly DemoStep[];
  readonly cleanup: CleanupReport;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface CowRun {
  readonly box: DemoSandbox;
  readonly signal: AbortSignal;
  readonly size: number;
  readonly merged: string;
  lowerDir: string;
  upper: string;
  timings: Partial<Mutable<CowTimings>>;
  before: DiskUse;
  after: DiskUse;
}

const FILE = 'big.bin';

const LESSON = [
  'Keep data that grows or churns (databases, logs, caches, uploads) in volumes (-v HOSTDIR:DIR), not in the container\'s layer: a volume bypasses overlay, so there is no copy-up, no second copy on disk, and the data outlives the container.',
  'Treat big image files as read-only; if a build must change one, change it in the layer that adds it.',
];

/** Times `fn` from a clean start: no dirty data of earlier steps left to write back. */
async function measure(run: CowRun, fn: () => Promise<unknown> | unknown): Promise<number> {
  settle([run.box.dir, run.box.store.root]);
  return (await timed(fn)).ms;
}

function diskNow(run: CowRun): DiskUse {
  return { lower: diskUsage(run.lowerDir), upper: diskUsage(run.upper) };
}

async function stepLowerFile(run: CowRun): Promise<ShownStep> {
  const src = run.box.path('trees', 'data');
  fs.mkdirSync(src, { recursive: true });
  await writeFileOfSize(join(src, FILE), run.size, { signal: run.signal, fsync: false });
  const layer = await run.box.createLayer('data', { fromDir: src, signal: run.signal });
  fs.rmSync(run.box.path('trees'), { recursive: true, force: true });
  const view = await run.box.mount(['data'], run.merged, true);
  run.lowerDir = layer.path;
  run.upper = view.upper ?? '';
  return {
    step: {
      id: '1',
      title: `A ${formatBytes(run.size)} file in a lower layer`,
      did: [
        `wrote ${FILE} (${run.size} bytes of random data) and made it layer ${run.box.layerName('data')}`,
        `mounted ${run.box.layerName('data')} writable at merged/`,
      ],
      facts: { size: run.size, lower: join(layer.path, FILE), upper: run.upper, merged: view.target },
      upper: listTree(run.upper),
      why: ['Think of a big library or database file baked into an image: the layer holds it once, and each mount of it starts with an empty upper.'],
    },
    show: labelled('lower', [join(layer.path, FILE)], { raw: true }),
  };
}

async function stepRead(run: CowRun): Promise<ShownStep> {
  let bytes = 0;
  const ms = await measure(run, async () => { bytes = await readWholeFile(join(run.merged, FILE), run.signal); });
  run.timings.readMs = ms;
  run.before = diskNow(run);
  return {
    step: {
      id: '2',
      title: 'Read it through the overlay',
      did: [`cat merged/${FILE} > /dev/null`],
      facts: { bytesRead: bytes, readMs: ms },
      upper: listTree(run.upper),
      why: ['Reads go to the lower file in place: however big the file, reading it copies nothing into upper.'],
    },
    show: labelled('saw', [`read ${formatBytes(bytes)} in ${formatMs(ms)}`], { raw: true }),
  };
}

async function stepAppend(run: CowRun): Promise<ShownStep> {
  const ms = await measure(run, () => appendByte(join(run.merged, FILE)));
  run.timings.copyUpMs = ms;
  run.after = diskNow(run);
  const upperSize = fs.statSync(join(run.upper, FILE)).size;
  const lowerSize = fs.statSync(join(run.lowerDir, FILE)).size;
  return {
    step: {
      id: '3',
      title: 'Append one byte: the whole file is copied up',
      did: [`echo -n x >> merged/${FILE}`],
      facts: { copyUpMs: ms, upperSize, lowerSize },
      upper: listTree(run.upper),
      why: [
        `Opening a lower file for writing copies it up whole: all ${formatBytes(run.size)} went into upper before the one byte landed. That is the cost of copy-on-write, paid once per file per container; here it took ${formatMs(ms)}. The lower file did not change.`,
      ],
    },
    show: labelled('saw', columns([
      ['append took', formatMs(ms)],
      [`upper/${FILE}`, `${upperSize} bytes`],
      [`lower/${FILE}`, `${lowerSize} bytes (unchanged)`],
    ]), { raw: true }),
  };
}

function stepDisk(run: CowRun): ShownStep {
  const total = (d: DiskUse): number => d.lower + d.upper;
  const row = (label: string, d: DiskUse): string[] => [label, formatBytes(d.lower), formatBytes(d.upper), formatBytes(total(d))];
  const growth = total(run.before) === 0 ? 0 : Math.round((100 * (total(run.after) - total(run.before))) / total(run.before));
  return {
    step: {
      id: '4',
      title: 'Disk used, before and after the append',
      did: ['du: st_blocks × 512 of the layer\'s diff dir (lower) and of the upper dir'],
      facts: { before: run.before, after: run.after },
      upper: listTree(run.upper),
      why: [`One appended byte grew the disk used by ${growth}%: the container now has its own full copy. Every container that touches a big image file keeps one more.`],
    },
    show: labelled('du', columns([
      ['', 'lower', 'upper', 'total'],
      row('before', run.before),
      row('after', run.after),
    ], [false, true, true, true]), { raw: true }),
  };
}

async function timedWrite(path: string, run: CowRun): Promise<number> {
  const ms = await measure(run, () => writeFileOfSize(path, run.size, { signal: run.signal, fsync: true }));
  fs.rmSync(path);
  return ms;
}

async function stepCompare(run: CowRun): Promise<ShownStep> {
  const host = run.box.path('host');
  fs.mkdirSync(host);
  const t = run.timings;
  t.directCopyMs = await measure(run, () => fs.copyFileSync(join(run.lowerDir, FILE), join(host, FILE)));
  t.directAppendMs = await measure(run, () => appendByte(join(host, FILE)));
  t.directAppendAgainMs = await measure(run, () => appendByte(join(host, FILE)));
  t.appendAgainMs = await measure(run, () => appendByte(join(run.merged, FILE)));
  fs.rmSync(join(host, FILE));
  run.signal.throwIfAborted();
  t.directWriteMs = await timedWrite(join(host, 'new.bin'), run);
  t.overlayWriteMs = await timedWrite(join(run.merged, 'new.bin'), run);
  const size = formatBytes(run.size);
  // With --root the upper may sit on another file system than the sandbox: then say so.
  const sameFileSystem = fs.statSync(host).dev === fs.statSync(run.upper).dev;
  return {
    step: {
      id: '5',
      title: 'Direct writes vs writes through the overlay',
      did: [
        'the same writes on the host file system (sandbox/host/) and through merged/,',
        'each timed after a syncfs so that none pays for the writeback of another',
        ...(sameFileSystem ? [] : ['note: the store is on another file system than the sandbox, so this compares two file systems too']),
      ],
      facts: { ...t, sameFileSystem },
      upper: listTree(run.upper),
      why: [
        'The overlay\'s cost is the one copy-up, a full copy of the file comparable to a cp; it is not paid on every write. Once the file is in upper, and for new files, writing through the overlay goes as fast as writing the host file system.',
      ],
    },
    show: labelled('timings', columns([
      ['', 'direct', 'through overlay'],
      [`append 1 byte to the ${size} file`, formatMs(t.directAppendMs), `${formatMs(t.copyUpMs ?? 0)} (first write: copy-up)`],
      ['append 1 byte again', formatMs(t.directAppendAgainMs), formatMs(t.appendAgainMs)],
      [`cp the ${size} file`, formatMs(t.directCopyMs), '-'],
      [`write a new ${size} file + fsync`, formatMs(t.directWriteMs), formatMs(t.overlayWriteMs)],
    ], [false, true, false]), { raw: true }),
  };
}

/**
 * Runs the demo in a fresh sandbox and removes everything after it (also on error and on abort).
 *
 * @example
 * const r = await runCowDemo({ size: 1 << 20, tmpDir: '/tmp', root: null, keep: false, out: SILENT_OUTPUT, signal });
 * r.steps[2].upper // [{ path: 'big.bin', size: 1048577, ... }]
 */
export async function runCowDemo(options: CowDemoOptions): Promise<CowDemoResult> {
  const { out, signal, size } = options;
  const { value, cleanup, sandbox, store, throwAway } = await withSandbox({ ...options, kind: 'cow' }, async (box) => {
    // Peak use: the lower file, its copy-up, the host copy and one new file at a time.
    const needs = [{ path: box.dir, need: 4 * size + 64 * 1024 * 1024 }, { path: box.store.root, need: 4 * size + 64 * 1024 * 1024 }];
    assertFree(needs, formatBytes(size), formatBytes);
    out.say(`shibafu demo cow: what copy-on-write costs for a ${formatBytes(size)} file`);
    for (const line of labelled('sandbox', [`${box.dir}${options.keep ? '' : ' (removed at the end)'}`], { raw: true })) out.say(line);
    for (const line of labelled('store', [`${box.store.root}${box.throwAway ? ' (made for the demo)' : ''}`], { raw: true })) out.say(line);
    const zero: DiskUse = { lower: 0, upper: 0 };
    const run: CowRun = { box, signal, size, merged: box.path('merged'), lowerDir: '', upper: '', timings: {}, before: zero, after: zero };
    const dirs = () => ({ lowers: run.lowerDir === '' ? [] : [run.lowerDir], upper: run.upper === '' ? null : run.upper, work: null, merged: run.merged });
    const steps = await runSteps([
      () => stepLowerFile(run), () => stepRead(run), () => stepAppend(run), () => stepDisk(run), () => stepCompare(run),
    ], { out, signal, dirs });
    out.say('');
    for (const line of labelled('lesson', LESSON)) out.say(line);
    return { steps, disk: { before: run.before, after: run.after }, timings: run.timings as CowTimings };
  });
  return { demo: 'cow', sandbox, store, throwAwayStore: throwAway, size, ...value, cleanup };
}
