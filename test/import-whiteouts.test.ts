/**
 * Whiteouts with nothing beneath them (real kernel, as root, real overlay mounts). The kernel
 * hides a whiteout only from the listing of a directory merged from several layers; one that
 * hides nothing sits in a directory no layer below has, where `ls -l` lists it as `c?????????`
 * (readdir returns it, lookup finds no file). So the import makes a whiteout only where the
 * layers below show its path, in a root layer never, and drops those under a directory the same
 * layer made opaque; the archive's entries stay in the tar-split record, and the export is still
 * the archive byte for byte.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Names a directory listing gives that lstat cannot find: what `ls -l` shows as `?????????`. */
function listedButMissing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`;
      let isDir = false;
      try {
        isDir = lstatSync(join(root, child)).isDirectory();
      } catch {
        out.push(child);
      }
      if (isDir) walk(child);
    }
  };
  walk('');
  return out.sort();
}

async function withMount<T>(ts: TempStore, ref: string, fn: (dir: string) => T): Promise<T> {
  const target = join(ts.base, `mnt-${ref}`);
  mkdirSync(target, { recursive: true });
  const r = await runCli(['--root', ts.root, 'layer', 'mount', ref, target]);
  assert.equal(r.status, 0, r.stderr);
  try {
    return fn(target);
  } finally {
    assert.equal((await runCli(['--root', ts.root, 'layer', 'umount', target])).status, 0);
  }
}

async function exported(ts: TempStore, ref: string): Promise<Buffer> {
  const file = join(ts.inputs, `${ref}.export.tar`);
  const r = await runCli(['--root', ts.root, 'layer', 'export', ref, '-o', file]);
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(file);
}

const isWhiteoutDevice = (path: string): boolean => {
  const st = lstatSync(path);
  return st.isCharacterDevice() && st.rdev === 0;
};

describe('whiteouts with nothing beneath them', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  // A base layer as some producers write them: whiteouts of paths no layer has.
  const base = new TarBuilder()
    .dir('etc').file('etc/keep', 'keep\n').file('etc/gone', 'gone\n').whiteout('etc/foo')
    .whiteout('top')
    .whiteout('usr/lib/stale')
    .dir('opt').file('opt/x', 'x\n').file('opt/y', 'y\n')
    .build();
  const child = new TarBuilder()
    .dir('etc').whiteout('etc/gone').whiteout('etc/nothing')
    .whiteout('newdir/x')
    .whiteout('top')
    // Before the opaque marker of its directory: that marker already hides opt/x.
    .dir('opt').whiteout('opt/x').file('opt/new', 'new\n').opaque('opt')
    .build();

  test('a root layer: no whiteout is made, the mount lists nothing it cannot show, the export is the archive', async () => {
    const { layer } = await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', base) });
    assert.deepEqual(readdirSync(layer.path).sort(), ['etc', 'opt']);
    assert.deepEqual(readdirSync(join(layer.path, 'etc')).sort(), ['gone', 'keep']);
    await withMount(ts, 'base', (dir) => {
      assert.deepEqual(listedButMissing(dir), []);
      assert.deepEqual(readdirSync(join(dir, 'etc')).sort(), ['gone', 'keep']);
      assert.doesNotMatch(execFileSync('ls', ['-lAR', dir], { encoding: 'utf8' }), /\?\?\?\?\?\?\?\?\?/);
    });
    const tar = await exported(ts, 'base');
    assert.ok(tar.equals(base), 'the export keeps the whiteout entries');
    assert.equal(sha256(tar), layer.diffId);
  });

  test('a child layer: whiteouts only where the layers below show the path, none under its own opaque dir', async () => {
    const { layer } = await ts.store.createLayer({ name: 'child', source: ts.input('child.tar', child), parent: 'base' });
    assert.ok(isWhiteoutDevice(join(layer.path, 'etc/gone')), 'etc/gone is below: whited out');
    for (const rel of ['etc/nothing', 'newdir', 'top', 'opt/x']) assert.throws(() => lstatSync(join(layer.path, rel)), { code: 'ENOENT' }, rel);
    assert.deepEqual(readdirSync(join(layer.path, 'opt')), ['new']);
    await withMount(ts, 'child', (dir) => {
      assert.deepEqual(listedButMissing(dir), []);
      assert.deepEqual(readdirSync(join(dir, 'etc')).sort(), ['keep']);
      assert.deepEqual(readdirSync(join(dir, 'opt')), ['new']);
      assert.doesNotMatch(execFileSync('ls', ['-lAR', dir], { encoding: 'utf8' }), /\?\?\?\?\?\?\?\?\?/);
    });
    const tar = await exported(ts, 'child');
    assert.ok(tar.equals(child));
    assert.equal(sha256(tar), layer.diffId);
  });

  test('layer apply onto another base: a whiteout that hid nothing on the old base hides what the new one has', async () => {
    await ts.store.createLayer({ name: 'other-base', source: ts.input('other.tar', new TarBuilder().dir('etc').file('etc/nothing', 'here\n').file('etc/keep', 'k\n').build()) });
    // 'child' whites out etc/nothing, which 'base' did not have: no whiteout was written.
    const applied = await ts.store.applyLayer({ diff: 'child', onto: 'other-base', name: 'child-on-other' });
    assert.equal(applied.layer.diffId, ts.store.inspectLayer('child').diffId);
    assert.ok(isWhiteoutDevice(join(applied.layer.path, 'etc/nothing')), 'on the new base it hides etc/nothing');
    await withMount(ts, 'child-on-other', (dir) => {
      assert.deepEqual(listedButMissing(dir), []);
      assert.deepEqual(readdirSync(join(dir, 'etc')), ['keep']);
    });
    assert.ok((await exported(ts, 'child-on-other')).equals(child), 'the applied layer exports the same archive');
  });

  test('a whiteout of a path a lower layer already whited out hides nothing', async () => {
    // `etc/gone` is whited out by 'child'; a grandchild's whiteout of it finds nothing below.
    const grandchild = new TarBuilder().dir('etc').whiteout('etc/gone').whiteout('etc/keep').build();
    const { layer } = await ts.store.createLayer({ name: 'grandchild', source: ts.input('gc.tar', grandchild), parent: 'child' });
    assert.throws(() => lstatSync(join(layer.path, 'etc/gone')), { code: 'ENOENT' });
    assert.ok(isWhiteoutDevice(join(layer.path, 'etc/keep')));
    await withMount(ts, 'grandchild', (dir) => {
      assert.deepEqual(listedButMissing(dir), []);
      assert.deepEqual(readdirSync(join(dir, 'etc')), []);
    });
  });
});
