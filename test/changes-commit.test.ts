/**
 * Commit (root): the same changes committed on two stores give the same diffId and chainId; the
 * layer keeps whiteouts and opaque dirs in overlay's format and drops overlay's private xattrs;
 * a stack of two chains is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { expandStack } from '../src/store/layer-mounts.js';
import { lgetxattr, llistxattr, lsetxattr } from '../src/sys/xattr.js';
import type { Store } from '../src/store/store.js';
import { baseTar, makeChanges } from './fixtures/changes-image.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';
import { TEST_FORMAT, TEST_XATTRS } from './helpers/test-driver.js';

const T = new Date(1_700_000_000_000);

/** Every upper entry's mtime, set through the mount, so two stores' uppers are the same tree. */
function pinTimes(upper: string, merged: string, rel = ''): void {
  for (const name of readdirSync(join(upper, rel))) {
    const child = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(upper, child));
    if (st.isCharacterDevice() && st.rdev === 0) continue; // a whiteout: not visible in the mount
    if (name.startsWith('.wh.')) continue; // fuse-overlayfs's marks, settled when it unmounts
    if (st.isDirectory()) pinTimes(upper, merged, child);
    lutimesSync(join(merged, child), T, T);
  }
}

async function commitOnFreshStore(): Promise<{ store: Store; chainId: string; diffId: string; dir: string }> {
  const ts = makeTempStore();
  await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', baseTar()) });
  const merged = join(ts.base, 'merged');
  const view = await ts.store.mountLayers({ layers: ['base'], target: merged, writable: true });
  try {
    makeChanges(merged);
    pinTimes(view.upper!, merged);
    const stack = expandStack(ts.store.context, [ts.store.resolve('base')]);
    const r = await ts.store.commitUpper({ upper: view.upper!, stack, name: 'committed' });
    assert.equal(r.existed, false);
    assert.equal(r.stats.vanished, 0);
    return { store: ts.store, chainId: r.layer.chainId!, diffId: r.layer.diffId!, dir: r.layer.path };
  } finally {
    ts.store.unmount(merged);
  }
}

test('the same changes committed on two stores give the same diffId and chainId', { skip: needsRoot }, async () => {
  const one = await commitOnFreshStore();
  const two = await commitOnFreshStore();
  assert.equal(one.diffId, two.diffId);
  assert.equal(one.chainId, two.chainId);
  assert.notEqual(one.diffId, one.store.inspectLayer('base').diffId);
});

test('a committed layer exports to bytes that hash to its diffId and import elsewhere to the same chainId', { skip: needsRoot }, async () => {
  const one = await commitOnFreshStore();
  const other = makeTempStore();
  await other.store.createLayer({ name: 'base', source: other.input('base.tar', baseTar()) });
  const file = join(other.inputs, 'committed.tar.gz');
  const exported = await one.store.exportLayer('committed', { file }, { compression: 'gzip' });
  assert.equal(exported.source, 'packer');
  assert.equal(`sha256:${createHash('sha256').update(gunzipSync(readFileSync(file))).digest('hex')}`, one.diffId);
  const imported = await other.store.createLayer({ name: 'committed', source: file, parent: 'base' });
  assert.equal(imported.layer.chainId, one.chainId);
});

test('a committed layer: whiteouts and opaque dirs in overlay format, no private overlay xattrs', { skip: needsRoot }, async () => {
  const { dir } = await commitOnFreshStore();
  if (TEST_FORMAT === 'dir') {
    // A whole tree: the deleted file is gone, the opaque dir holds only what the container left.
    assert.equal(existsSync(join(dir, 'data/big.bin')), false);
    assert.deepEqual(readdirSync(join(dir, 'opt/o')).sort(), ['new', 'same']);
    assert.deepEqual(llistxattr(join(dir, 'opt/o')), []);
    return;
  }
  const wh = lstatSync(join(dir, 'data/big.bin'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'the deleted file is a 0/0 whiteout');
  assert.deepEqual([wh.uid, wh.gid, wh.mtimeMs], [0, 0, 0], 'whiteouts are normalized (root, mtime 0)');
  assert.equal(lgetxattr(join(dir, 'opt/o'), 'trusted.overlay.opaque')?.toString(), 'y');
  const walk = (rel: string): string[] => {
    const out: string[] = [];
    for (const name of readdirSync(join(dir, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`;
      for (const x of llistxattr(join(dir, child))) if (x.startsWith('trusted.overlay.') && x !== 'trusted.overlay.opaque') out.push(`${child}: ${x}`);
      if (lstatSync(join(dir, child)).isDirectory()) out.push(...walk(child));
    }
    return out;
  };
  assert.deepEqual(walk(''), [], 'origin / impure xattrs of the upper are not in the layer');
  assert.deepEqual(readdirSync(join(dir, 'opt/o')).sort(), ['new', 'same']);
});

test('committing on a stack of two chains is refused: a layer has one parent', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await ts.store.createLayer({ name: 'a', source: ts.input('a.tar', new TarBuilder().file('a', 'a').build()) });
  await ts.store.createLayer({ name: 'b', source: ts.input('b.tar', new TarBuilder().file('b', 'b').build()) });
  const stack = expandStack(ts.store.context, [ts.store.resolve('a'), ts.store.resolve('b')]);
  await assert.rejects(ts.store.commitUpper({ upper: ts.inputs, stack, name: 'x' }), { code: 'UNSUPPORTED', message: /not one chain/ });
  assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
});

test('an upper written with redirect_dir or metacopy is refused, and nothing is left in tmp/', { skip: needsRoot || (TEST_FORMAT === 'dir' && 'overlay uppers only: a whole-tree driver has none') }, async () => {
  const ts = makeTempStore();
  await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', baseTar()) });
  const stack = expandStack(ts.store.context, [ts.store.resolve('base')]);
  for (const [path, name, feature] of [['renamed', 'trusted.overlay.redirect', /redirect_dir/], ['etc/passwd', 'trusted.overlay.metacopy', /metacopy/]] as const) {
    const upper = join(ts.base, `upper-${feature.source}`);
    mkdirSync(join(upper, 'etc'), { recursive: true });
    if (path === 'renamed') mkdirSync(join(upper, path));
    else writeFileSync(join(upper, path), '');
    lsetxattr(join(upper, path), name, Buffer.from(path === 'renamed' ? '/var/cache' : ''));
    await assert.rejects(ts.store.commitUpper({ upper, stack, name: 'x' }), { code: 'UNSUPPORTED', message: feature });
    if (path === 'renamed') await assert.rejects(ts.store.getLayerChanges({ upper, stack }), { code: 'UNSUPPORTED', message: feature });
  }
  assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
  assert.equal(ts.store.listLayers().length, 1);
});

test('every kind of node in an upper commits as it is, and the layer hashes to its diffId', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', baseTar()) });
  const merged = join(ts.base, 'merged');
  const view = await ts.store.mountLayers({ layers: ['base'], target: merged, writable: true });
  let committed;
  try {
    makeChanges(merged);
    mkdirSync(join(merged, 'kinds'));
    writeFileSync(join(merged, 'kinds/tool'), 'tool\n');
    chownSync(join(merged, 'kinds/tool'), 1000, 1001);
    chmodSync(join(merged, 'kinds/tool'), 0o4755); // after the chown, which would clear setuid
    writeFileSync(join(merged, 'kinds/h1'), 'linked\n');
    linkSync(join(merged, 'kinds/h1'), join(merged, 'kinds/h2'));
    symlinkSync('../etc/motd', join(merged, 'kinds/link'));
    writeFileSync(join(merged, 'kinds/empty'), '');
    if (TEST_XATTRS) {
      lsetxattr(join(merged, 'kinds/empty'), 'user.note', Buffer.from('kept'));
      lsetxattr(join(merged, 'kinds'), 'user.dir-note', Buffer.from('dir'));
    }
    execFileSync('mkfifo', ['-m', '0640', join(merged, 'kinds/pipe')]);
    execFileSync('mknod', ['-m', '0600', join(merged, 'kinds/null2'), 'c', '1', '3']);
    const stack = expandStack(ts.store.context, [ts.store.resolve('base')]);
    committed = await ts.store.commitUpper({ upper: view.upper!, stack, name: 'kinds' });
  } finally {
    ts.store.unmount(merged);
  }
  const dir = committed.layer.path;
  const st = (p: string) => lstatSync(join(dir, p));
  assert.deepEqual(readdirSync(join(dir, 'kinds')).sort(), ['empty', 'h1', 'h2', 'link', 'null2', 'pipe', 'tool']);
  assert.deepEqual([st('kinds/tool').mode & 0o7777, st('kinds/tool').uid, st('kinds/tool').gid], [0o4755, 1000, 1001]);
  assert.equal(readFileSync(join(dir, 'kinds/tool'), 'utf8'), 'tool\n');
  assert.equal(st('kinds/h1').ino, st('kinds/h2').ino);
  assert.equal(st('kinds/h1').nlink, 2);
  assert.equal(readlinkSync(join(dir, 'kinds/link')), '../etc/motd');
  assert.ok(st('kinds/pipe').isFIFO());
  assert.equal(st('kinds/pipe').mode & 0o7777, 0o640);
  assert.ok(st('kinds/null2').isCharacterDevice());
  assert.equal(st('kinds/null2').rdev, (1 << 8) | 3);
  assert.equal(st('kinds/empty').size, 0);
  if (TEST_XATTRS) {
    assert.equal(lgetxattr(join(dir, 'kinds/empty'), 'user.note')?.toString(), 'kept');
    assert.equal(lgetxattr(join(dir, 'kinds'), 'user.dir-note')?.toString(), 'dir');
  }
  if (TEST_FORMAT === 'overlay') {
    // Whiteouts as overlay makes them, normalized: root-owned, mtime 0.
    assert.ok(st('data/big.bin').isCharacterDevice());
    assert.deepEqual([st('data/big.bin').rdev, st('data/big.bin').uid, st('data/big.bin').mtimeMs], [0, 0, 0]);
  } else {
    assert.equal(existsSync(join(dir, 'data/big.bin')), false);
  }
  // The diffId is the hash of what is stored: the export's bytes (read from the stored layer).
  const file = join(ts.inputs, 'kinds.tar');
  await ts.store.exportLayer('kinds', { file }, { compression: 'none' });
  assert.equal(`sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`, committed.layer.diffId);
  assert.equal(committed.stats.links, 1);
  // Overlay: data/big.bin, var/cache (opt/o is opaque instead). A tree diff: data/big.bin,
  // opt/o/old1, opt/o/old2 (var, left empty, is opaque instead).
  assert.equal(committed.stats.whiteouts, TEST_FORMAT === 'overlay' ? 2 : 3);
});
