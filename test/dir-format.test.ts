/**
 * The two layer formats agree (root: chown, mknod, real overlay mounts). For random trees P and
 * C = P + random edits (test/fixtures/random-trees.ts):
 *  - the tar of (P -> C) (changes/pack-tree-changes.ts) applied in DIR format onto a copy of P
 *    gives exactly C;
 *  - the same tar applied in OVERLAY format into an empty layer, mounted over P, shows exactly C;
 *  - the tar is deterministic, and is what the deterministic packer writes for that overlay layer.
 * Trees are compared with the fixture's own snapshot, written independently of the code under test.
 * Plus an archive built entry by entry (test/helpers/tar-builder.ts) with the tricky cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packTreeChangesSync } from '../src/changes/pack-tree-changes.js';
import { DIR_LAYER_FORMAT, OVERLAY_LAYER_FORMAT, type LayerFormat } from '../src/format/layer-format.js';
import { mountOverlay, unmountOverlay } from '../src/overlay/mount-overlay.js';
import { planOverlayMount } from '../src/overlay/plan-overlay-mount.js';
import { mknod } from '../src/sys/mknod.js';
import { futimens, lutimens } from '../src/sys/utimens.js';
import { lgetxattr, llistxattr, lremovexattr, lsetxattr } from '../src/sys/xattr.js';
import { toApplyOp } from '../src/tar/apply-op.js';
import type { DirApplyPorts } from '../src/tar/dir-layer-applier.js';
import { createLayerApplier } from '../src/tar/layer-applier.js';
import { overlayLowerView } from '../src/format/overlay-lowers.js';
import { packLayerSync } from '../src/tar/tar-packer.js';
import { TarParser } from '../src/tar/tar-parser.js';
import { mutate, randomTree, Rng, snapshot } from './fixtures/random-trees.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { needsRoot } from './helpers/temp-store.js';

const CASES = 12;
const ports: DirApplyPorts = { mknod, lsetxattr, futimens, lutimens, llistxattr, lremovexattr };
const xattrs = { llistxattr, lgetxattr };
const limits = { maxDepth: 128, maxBytes: 1 << 30 };

/** Applies `tar` into `root`; in overlay format, over the layer dirs `lowers` (bottom first). */
function applyTar(tar: Buffer, root: string, format: LayerFormat, lowers: string[] = []): void {
  const a = format.kind === 'dir'
    ? createLayerApplier({ format, root, ports, limits: { maxEntries: 100_000 } })
    : createLayerApplier({ format, root, ports, limits: { maxEntries: 100_000 }, below: overlayLowerView(lowers, { lgetxattr }) });
  let toFile = false;
  const p = new TarParser({
    onEntry: (e) => {
      const op = toApplyOp(e, limits);
      a.apply(op);
      toFile = op.op === 'file' || op.op === 'sparse';
    },
    onData: (chunk) => { if (toFile) a.data(chunk); },
    onEntryEnd: () => { toFile = false; a.endEntry(); },
    onRaw: () => {},
  });
  try {
    p.write(tar);
    p.end();
    a.finish();
  } catch (err) {
    a.abort();
    throw err;
  }
}

/** Every header of a tar, in order: what two tars must agree on. */
function entriesOf(tar: Buffer): string[] {
  const out: string[] = [];
  const p = new TarParser({
    onEntry: (e) => {
      const x = [...e.xattrs].map(([n, v]) => `${n}=${v.toString('hex')}`).join(',');
      out.push(`${e.path} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${e.mtime.sec} ${e.size} ${e.linkpath} ${e.devmajor},${e.devminor} ${x}`);
    },
    onData: () => {},
    onEntryEnd: () => {},
    onRaw: () => {},
  });
  p.write(tar);
  p.end();
  return out;
}

/** Empties the first non-empty subdirectory and puts one new file in it: an opaque directory. */
function replaceDirContent(root: string): void {
  const walk = (rel: string): boolean => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (!lstatSync(join(root, child)).isDirectory()) continue;
      const inside = readdirSync(join(root, child));
      if (inside.length > 0) {
        for (const n of inside) rmSync(join(root, child, n), { recursive: true });
        writeFileSync(join(root, child, 'fresh'), 'fresh\n');
        return true;
      }
      if (walk(child)) return true;
    }
    return false;
  };
  walk('');
}

const cpA = (from: string, to: string): void => { execFileSync('cp', ['-a', `${from}/.`, to]); };

function withOverlay<T>(base: string, lowers: string[], fn: (merged: string) => T): T {
  const target = join(base, 'merged');
  const empty = join(base, 'empty');
  mkdirSync(target, { recursive: true });
  mkdirSync(empty, { recursive: true });
  mountOverlay(planOverlayMount({ lowers, target, emptyDir: empty }), { api: 'auto' });
  try {
    return fn(target);
  } finally {
    unmountOverlay(target);
  }
}

test(`pack(P -> C) applied in dir format onto P is C, and in overlay format over P shows C (${CASES} random pairs)`, { skip: needsRoot }, (t) => {
  let changed = 0;
  let whiteouts = 0;
  let opaques = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const base = mkdtempSync(join(tmpdir(), `dir-format-${seed}-`));
    t.after(() => rmSync(base, { recursive: true, force: true }));
    const [p, c, d, l] = ['p', 'c', 'd', 'l'].map((n) => join(base, n)) as [string, string, string, string];
    for (const dir of [p, c, d, l]) mkdirSync(dir);
    const rng = new Rng(seed * 104_729);
    randomTree(rng, p, 30);
    cpA(p, c);
    mutate(rng, c, 14);
    if (seed % 2 === 0) replaceDirContent(c);
    const tar = Buffer.concat([...packTreeChangesSync(p, c, { xattrs })]);
    assert.deepEqual(Buffer.concat([...packTreeChangesSync(p, c, { xattrs, chunkSize: 4096 })]), tar, `seed ${seed}: deterministic`);
    const expected = snapshot(c);
    const entries = entriesOf(tar);
    changed += entries.length;
    whiteouts += entries.filter((e) => /(^|\/)\.wh\.(?!\.wh\.)/.test(e)).length;
    opaques += entries.filter((e) => e.includes('.wh..wh..opq ')).length;

    cpA(p, d);
    applyTar(tar, d, DIR_LAYER_FORMAT);
    assert.deepEqual(snapshot(d), expected, `seed ${seed}: dir format`);

    applyTar(tar, l, OVERLAY_LAYER_FORMAT, [p]);
    withOverlay(base, [p, l], (merged) => assert.deepEqual(snapshot(merged), expected, `seed ${seed}: overlay format, merged`));
    // The overlay layer exported again: the same entries (its whiteouts aside, which the applier
    // stamps with the time of the import; the changes tar carries 0 for them).
    const repacked = entriesOf(Buffer.concat([...packLayerSync(l, { xattrs: { list: llistxattr, get: lgetxattr } })]));
    const normalized = repacked.map((e) => (/(^|\/)\.wh\.(?!\.wh\.)[^/ ]* file 0 0:0 /.test(e) ? e.replace(/ 0:0 \d+ /, ' 0:0 0 ') : e));
    assert.deepEqual(normalized, entriesOf(tar), `seed ${seed}: the overlay layer packs to the same entries`);
  }
  assert.ok(changed > CASES * 5, `the random edits made only ${changed} entries`);
  assert.ok(whiteouts > 0 && opaques > 0, `the cases packed ${whiteouts} whiteouts and ${opaques} opaque markers`);
});

test('an archive with the tricky cases gives the same tree in both formats', { skip: needsRoot }, (t) => {
  const base = mkdtempSync(join(tmpdir(), 'dir-format-tricky-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const [p, d, l] = ['p', 'd', 'l'].map((n) => join(base, n)) as [string, string, string];
  for (const dir of [p, d, l]) mkdirSync(dir);
  const parent = new TarBuilder()
    .dir('etc').file('etc/passwd', 'root\n').file('etc/hosts', 'localhost\n')
    .dir('opt').dir('opt/app').file('opt/app/old', 'old\n').dir('opt/app/sub').file('opt/app/sub/deep', 'deep\n')
    .file('was-file', 'f\n').dir('was-dir').file('was-dir/x', 'x\n')
    .dir('usr').dir('usr/lib').symlink('lib', 'usr/lib')
    .build();
  applyTar(parent, p, DIR_LAYER_FORMAT); // a root layer in dir format: applied into an empty dir
  // Parent directories listed, as producers write them: a directory the archive only implies is
  // new in an overlay layer (its time is the import's) but the parent's in a dir tree.
  const layer = new TarBuilder()
    .dir('etc').dir('opt').dir('opt/app')
    .file('opt/app/new', 'new\n') // before the opaque marker of its dir
    .file('opt/app/.wh..wh..opq', '')
    .dir('opt/app/sub') // after it: the parent's deep is gone, the layer's dir stays
    .file('etc/.wh.hosts', '')
    .file('.wh.was-dir', '').file('was-dir', 'now a file\n')
    .dir('was-file').file('was-file/inside', 'in\n')
    .dir('lib').file('lib/libc.so', 'elf') // a directory where the parent has a symlink
    .build();
  cpA(p, d);
  applyTar(layer, d, DIR_LAYER_FORMAT);
  applyTar(layer, l, OVERLAY_LAYER_FORMAT, [p]);
  const expected = snapshot(d);
  assert.deepEqual(Object.keys(expected), [
    'etc', 'etc/passwd', 'lib', 'lib/libc.so', 'opt', 'opt/app', 'opt/app/new', 'opt/app/sub', 'usr', 'usr/lib',
    'was-dir', 'was-file', 'was-file/inside',
  ]);
  assert.match(expected.lib as string, /^dir /);
  assert.match(expected['was-dir'] as string, /^file /);
  assert.deepEqual(readdirSync(join(p, 'usr/lib')), [], 'nothing was written through the parent\'s symlink');
  withOverlay(base, [p, l], (merged) => assert.deepEqual(snapshot(merged), expected));
});
