/**
 * Commit (root): the same changes committed on two stores give the same diffId and chainId; the
 * layer keeps whiteouts and opaque dirs in overlay's format and drops overlay's private xattrs;
 * a stack of two chains is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { expandStack } from '../src/store/layer-mounts.js';
import { lgetxattr, llistxattr, lsetxattr } from '../src/sys/xattr.js';
import type { Store } from '../src/store/store.js';
import { baseTar, makeChanges } from './fixtures/changes-image.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';

const T = new Date(1_700_000_000_000);

/** Every upper entry's mtime, set through the mount, so two stores' uppers are the same tree. */
function pinTimes(upper: string, merged: string, rel = ''): void {
  for (const name of readdirSync(join(upper, rel))) {
    const child = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(upper, child));
    if (st.isCharacterDevice() && st.rdev === 0) continue; // a whiteout: not visible in the mount
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

test('an upper written with redirect_dir or metacopy is refused, and nothing is left in tmp/', { skip: needsRoot }, async () => {
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
