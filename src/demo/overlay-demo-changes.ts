/**
 * Steps c to g of the overlay demo, on the writable mount of step b: what a read, a write, a new
 * file, a delete and a replaced directory leave in the upper dir, shown with lstat and xattrs.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { OPAQUE_XATTR } from '../format/overlay-format.js';
import { lgetxattr } from '../sys/xattr.js';
import type { ShownStep } from './demo-step.js';
import { columns, formatListing, labelled, quoted } from './demo-text.js';
import { servingLayer, type OverlayRun } from './overlay-demo-stack.js';
import { listTree, splitDevice, type TreeEntry } from './tree-listing.js';

function upperOf(run: OverlayRun): string {
  if (run.dirs.upper === null) throw new Error('the writable mount of step b is missing');
  return run.dirs.upper;
}

function lowerPath(run: OverlayRun, layer: string, rel: string): string {
  return join(run.layers.find((l) => l.name === layer)?.path ?? '/nonexistent', rel);
}

function exists(path: string): boolean {
  try {
    fs.lstatSync(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

function saw(rows: string[][]): string[] {
  return labelled('saw', columns(rows), { raw: true });
}

/**
 * Step c: reading a lower file copies nothing.
 *
 * @example
 * (await stepRead(run)).step.upper // []
 */
export function stepRead(run: OverlayRun): ShownStep {
  const content = fs.readFileSync(join(run.merged, 'base.txt'), 'utf8');
  const from = servingLayer(run.layers, 'base.txt');
  return {
    step: {
      id: 'c',
      title: 'Read a lower file',
      did: ['cat merged/base.txt'],
      facts: { content, servedBy: from },
      upper: listTree(upperOf(run)),
      why: [
        `A read is answered from the lower file in place (${from ?? '?'}'s base.txt): nothing is copied, so any number of containers share one copy of an image's files.`,
      ],
    },
    show: saw([['merged/base.txt', `= ${quoted(content)}`, `(from ${from ?? '?'})`]]),
  };
}

/**
 * Step d: writing a lower file copies it up first; the lower file does not change.
 *
 * @example
 * (await stepWrite(run)).step.facts.upperContent // 'modified\n'
 */
export function stepWrite(run: OverlayRun): ShownStep {
  const lower = lowerPath(run, 'base', 'shared.txt');
  const before = fs.readFileSync(lower, 'utf8');
  fs.writeFileSync(join(run.merged, 'shared.txt'), 'modified\n');
  const upperFile = join(upperOf(run), 'shared.txt');
  const upperContent = fs.readFileSync(upperFile, 'utf8');
  const lowerContent = fs.readFileSync(lower, 'utf8');
  return {
    step: {
      id: 'd',
      title: 'Write to a lower file: copy-up',
      did: ['echo modified > merged/shared.txt'],
      facts: {
        upperContent, upperSize: fs.statSync(upperFile).size, lowerContent, lowerSize: fs.statSync(lower).size,
        lowerUnchanged: lowerContent === before,
      },
      upper: listTree(upperOf(run)),
      why: [
        'Lowers are never written. Opening shared.txt for writing made the kernel copy it up first: it built a copy in workdir (mode, owner, xattrs, and the data unless the open truncates it anyway, as this echo does) and renamed it into upper. The write went to that copy, which now hides base\'s.',
        'trusted.overlay.origin records which lower file the copy came from. An append would have copied every byte first: see `shibafu demo cow`.',
      ],
    },
    show: saw([
      ['upper/shared.txt', `= ${quoted(upperContent)}`, `(${upperContent.length} bytes, new)`],
      ['base/shared.txt', `= ${quoted(lowerContent)}`, `(${lowerContent.length} bytes, unchanged)`],
    ]),
  };
}

/**
 * Step e: a new file is created in upper only.
 *
 * @example
 * (await stepCreate(run)).step.facts.inAnyLower // false
 */
export function stepCreate(run: OverlayRun): ShownStep {
  fs.writeFileSync(join(run.merged, 'new.txt'), 'new content\n');
  const inAnyLower = run.layers.some((l) => exists(join(l.path, 'new.txt')));
  return {
    step: {
      id: 'e',
      title: 'Create a new file',
      did: ['echo "new content" > merged/new.txt'],
      facts: { inUpper: exists(join(upperOf(run), 'new.txt')), inAnyLower },
      upper: listTree(upperOf(run)),
      why: ['A name no layer has needs no copy-up: the file is created straight in upper, and no lower ever learns of it.'],
    },
    show: saw([['new.txt in a lower?', inAnyLower ? 'yes' : `no (looked in ${run.layers.map((l) => l.name).join(', ')})`]]),
  };
}

/**
 * Step f: deleting a lower file leaves a whiteout, a character device 0/0, in upper.
 *
 * @example
 * (await stepDelete(run)).step.facts.whiteout // { type: 'char', major: 0, minor: 0 }
 */
export function stepDelete(run: OverlayRun): ShownStep {
  fs.rmSync(join(run.merged, 'base.txt'));
  const st = fs.lstatSync(join(upperOf(run), 'base.txt'));
  const dev = splitDevice(st.rdev);
  const inMerged = exists(join(run.merged, 'base.txt'));
  const inLower = exists(lowerPath(run, 'base', 'base.txt'));
  return {
    step: {
      id: 'f',
      title: 'Delete a lower file: a whiteout',
      did: ['rm merged/base.txt'],
      facts: {
        whiteout: { characterDevice: st.isCharacterDevice(), rdev: st.rdev, major: dev.major, minor: dev.minor },
        inMerged, inLower,
      },
      upper: listTree(upperOf(run)),
      why: [
        'The lower file cannot go (lowers are read-only and shared), so the kernel records the deletion in upper: a whiteout, a character device with device number 0/0, under the same name. A lookup that meets it stops there and answers "No such file or directory".',
        'In an OCI layer tar the same mark is spelled .wh.base.txt.',
      ],
    },
    show: saw([
      ['merged/base.txt', inMerged ? 'still there?' : 'gone (ENOENT)'],
      ['base/base.txt', inLower ? 'still there, unchanged' : 'gone?'],
      ['lstat upper/base.txt', `character device: ${st.isCharacterDevice()}, rdev ${st.rdev} (${dev.major}, ${dev.minor})`],
    ]),
  };
}

/**
 * Step g: a directory removed and made again is opaque: the lowers' entries stay hidden.
 *
 * @example
 * (await stepReplaceDir(run)).step.facts.opaque // 'y'
 */
export function stepReplaceDir(run: OverlayRun): ShownStep {
  const before = fs.readdirSync(join(run.merged, 'config')).sort();
  fs.rmSync(join(run.merged, 'config'), { recursive: true });
  const afterRemove: TreeEntry[] = listTree(upperOf(run)).filter((e) => e.path === 'config' || e.path.startsWith('config/'));
  fs.mkdirSync(join(run.merged, 'config'));
  fs.writeFileSync(join(run.merged, 'config', 'settings.conf'), 'debug = true\n');
  const opaque = lgetxattr(join(upperOf(run), 'config'), OPAQUE_XATTR)?.toString('latin1') ?? null;
  const after = fs.readdirSync(join(run.merged, 'config')).sort();
  const rows = columns([
    ['merged/config/ before', `= ${before.join(', ')}`],
    ['merged/config/ now', `= ${after.join(', ')}`],
    [OPAQUE_XATTR, `= ${opaque === null ? '(not set)' : quoted(opaque)}`],
  ]);
  return {
    step: {
      id: 'g',
      title: 'Replace a directory: opaque',
      did: ['rm -r merged/config', 'mkdir merged/config', 'echo "debug = true" > merged/config/settings.conf'],
      facts: { before, afterRemove, after, opaque },
      upper: listTree(upperOf(run)),
      why: [
        'rm -r whited out each file and then the directory itself. mkdir over a whiteout makes an opaque directory: trusted.overlay.opaque=y tells the kernel to stop merging there, so the lowers\' app.conf, log.conf and python.conf stay hidden without a whiteout each.',
        'In an OCI layer tar the mark is spelled config/.wh..wh..opq.',
      ],
    },
    show: labelled('saw', [
      rows[0] ?? '',
      'after rm -r, upper held:',
      ...formatListing(afterRemove).map((line) => `  ${line}`),
      rows[1] ?? '',
      rows[2] ?? '',
    ], { raw: true }),
  };
}
