/**
 * A full disk (issue 2, point 2: "loses nothing"): the store lives on an 8 MiB tmpfs, and an
 * import, a `layer add` and the copy of a container's upper each need more than is free (a
 * stopped container's commit moves its upper instead, and then needs no space: tested too). Each fails with
 * NO_SPACE (exit 6 from the CLI), leaves the store exactly as it was (rows, files, an empty tmp/,
 * nothing for the next open to sweep), gives the space back, and the store keeps working.
 * Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { tarOf } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { assertStoreUnchanged, snapshotStore, snapshotTree } from './helpers/tree-snapshot.js';
import { expandStack } from '../src/store/layer-mounts.js';

const MiB = 1024 * 1024;
/** The store's file system. */
const FS_SIZE = 8 * MiB;

/** Incompressible bytes: nothing on the way may shrink them below the free space. */
function noise(bytes: number): Buffer {
  return randomFillSync(Buffer.alloc(bytes));
}

/** A temp store whose root is a fresh tmpfs of FS_SIZE (unmounted by the temp store's cleanup). */
function storeOnTinyFs(): TempStore {
  const ts = makeTempStore({ open: false });
  mkdirSync(ts.root, { mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${FS_SIZE},mode=0700`, 'shibafu-full-disk-test', ts.root]);
  return ts;
}

/** Free bytes of the store's file system. */
function freeBytes(ts: TempStore): number {
  const s = statfsSync(ts.root);
  return s.bavail * s.bsize;
}

/** The database's pages may grow by a few blocks between two measurements; files may not. */
const DB_SLACK = 256 * 1024;

describe('a full disk loses nothing', { skip: needsRoot }, () => {
  test('an import larger than the free space: NO_SPACE, the store as it was, the space given back', async () => {
    const ts = storeOnTinyFs();
    await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', tarOf((t) => t.file('etc/hostname', 'base\n'))) });
    const before = snapshotStore(ts.store);
    const free = freeBytes(ts);
    const big = ts.input('big.tar', tarOf((t) => t.file('blob', noise(FS_SIZE + MiB))));

    await assert.rejects(ts.store.createLayer({ name: 'big', source: big, parent: 'base' }),
      (err: { code?: string }) => err.code === 'NO_SPACE');
    assertStoreUnchanged(ts.store, before, () => ts.reopen());
    assert.ok(freeBytes(ts) >= free - DB_SLACK, `free space not given back: ${free} -> ${freeBytes(ts)}`);

    const cli = await runCli(['--root', ts.root, 'layer', 'create', 'big', big, '--parent', 'base']);
    assert.equal(cli.status, 6, cli.stderr);
    assert.match(cli.stderr, /^error\[NO_SPACE\]: Cannot write "[^"]+": no space left on device\nhint: Free space on the file system that holds the store/);
    assert.doesNotMatch(cli.stderr, /shibafu gc/, 'the hint names no command that does not exist');
    assertStoreUnchanged(ts.reopen(), before, () => ts.reopen());

    // Still a working store: a layer that fits goes in.
    const small = await ts.store.createLayer({ name: 'small', source: ts.input('small.tar', tarOf((t) => t.file('a', noise(MiB)))), parent: 'base' });
    assert.deepEqual(small.layer.names, ['small']);
    assert.equal(small.layer.files, 1);
  });

  test('many small files, written by the import\'s second thread, past the free space: NO_SPACE, the store as it was', async () => {
    const ts = storeOnTinyFs();
    await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', tarOf((t) => t.file('etc/hostname', 'base\n'))) });
    const before = snapshotStore(ts.store);
    const free = freeBytes(ts);
    // 3,000 files of 3 KiB take a 4 KiB page each on tmpfs: 12 MiB, past the 8 MiB; all but the
    // first 512 (and the first of each directory) go through the background thread.
    const many = ts.input('many.tar', tarOf((t) => {
      for (let i = 0; i < 3000; i++) t.file(`d${i % 20}/f${i}`, noise(3 * 1024));
    }));
    await assert.rejects(ts.store.createLayer({ name: 'many', source: many, parent: 'base' }),
      (err: { code?: string; message?: string }) => err.code === 'NO_SPACE' && /no space left on device/.test(err.message ?? ''));
    assertStoreUnchanged(ts.store, before, () => ts.reopen());
    assert.ok(freeBytes(ts) >= free - DB_SLACK, `free space not given back: ${free} -> ${freeBytes(ts)}`);
    const cli = await runCli(['--root', ts.root, 'layer', 'create', 'many', many, '--parent', 'base']);
    assert.equal(cli.status, 6, cli.stderr);
    assert.match(cli.stderr, /^error\[NO_SPACE\]: Cannot (write|create file) "[^"]+": no space left on device\n/);
    assertStoreUnchanged(ts.reopen(), before, () => ts.reopen());
  });

  test('layer add larger than the free space: NO_SPACE, the open layer as it was, then add and seal work', async () => {
    const ts = storeOnTinyFs();
    await ts.store.createLayer({ name: 'wip' });
    const fits = join(ts.inputs, 'fits');
    mkdirSync(join(fits, 'app'), { recursive: true });
    writeFileSync(join(fits, 'app', 'main.sh'), 'echo main\n', { mode: 0o755 });
    await ts.store.addToLayer('wip', fits, '/');
    const openDiff = ts.store.inspectLayer('wip').path;
    const layerBefore = snapshotTree(openDiff);
    const before = snapshotStore(ts.store);
    const free = freeBytes(ts);

    // A tree whose first files fit and whose last one does not: before the fix, the first ones
    // stayed in the layer; and a file that replaces an existing one must not be lost either.
    const tooBig = join(ts.inputs, 'too-big');
    mkdirSync(join(tooBig, 'app'), { recursive: true });
    writeFileSync(join(tooBig, 'app', 'a-first'), noise(2 * MiB));
    writeFileSync(join(tooBig, 'app', 'main.sh'), 'echo replaced\n');
    writeFileSync(join(tooBig, 'app', 'z-last'), noise(FS_SIZE));
    await assert.rejects(ts.store.addToLayer('wip', tooBig, '/'), (err: { code?: string }) => err.code === 'NO_SPACE');
    assert.deepEqual(snapshotTree(openDiff), layerBefore, 'the open layer changed');
    assertStoreUnchanged(ts.store, before, () => ts.reopen());
    assert.ok(freeBytes(ts) >= free - DB_SLACK, `free space not given back: ${free} -> ${freeBytes(ts)}`);

    const cli = await runCli(['--root', ts.root, 'layer', 'add', 'wip', join(tooBig, 'app', 'z-last'), '/data/']);
    assert.equal(cli.status, 6, cli.stderr);
    assert.match(cli.stderr, /^error\[NO_SPACE\]/);
    assert.deepEqual(snapshotTree(openDiff), layerBefore, 'the open layer changed (CLI)');

    await ts.reopen().addToLayer('wip', join(tooBig, 'app', 'main.sh'), '/app/main.sh');
    const sealed = await ts.store.sealLayer('wip');
    assert.equal(sealed.layer.state, 'sealed');
    const diff = ts.store.inspectLayer(sealed.layer.chainId!).path;
    assert.deepEqual(readdirSync(join(diff, 'app')), ['main.sh']);
    assert.equal(readFileSync(join(diff, 'app', 'main.sh'), 'utf8'), 'echo replaced\n');
  });

  test('container commit larger than the free space: a copy fails with NO_SPACE and changes nothing; a stopped container\'s upper moves and needs none', async () => {
    const ts = storeOnTinyFs();
    await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', tarOf((t) => t.file('etc/hostname', 'base\n'))) });
    ts.store.close();
    const created = await runCli(['--root', ts.root, 'container', 'create', '--name', 'c', 'base', '/bin/true']);
    assert.equal(created.status, 0, created.stderr);
    const inspect = JSON.parse((await runCli(['--root', ts.root, 'container', 'inspect', 'c', '--json'])).stdout) as Array<{ paths: { upper: string; merged: string } }>;
    const { upper, merged } = inspect[0]!.paths;
    // Written through the mount: the upper now holds 5 MiB a copy would need again.
    writeFileSync(join(merged, 'data'), noise(5 * MiB));
    const upperBefore = snapshotTree(upper);
    const before = snapshotStore(ts.reopen());

    // The copy (what a running container's commit does, paused), through the library.
    const store = ts.reopen();
    await assert.rejects(store.commitUpper({ upper, stack: expandStack(store.context, [store.resolve('base')]), name: 'snapshot' }),
      (err: { code?: string }) => err.code === 'NO_SPACE');
    assertStoreUnchanged(ts.reopen(), before, () => ts.reopen());
    assert.deepEqual(snapshotTree(upper), upperBefore, 'the container\'s upper changed');
    assert.deepEqual(readdirSync(merged).sort(), ['data', 'etc']);
    ts.store.close();

    // The container does not run: its upper becomes the layer, with no byte copied.
    const free = freeBytes(ts);
    const commit = await runCli(['--root', ts.root, 'container', 'commit', 'c', 'snapshot', '--json']);
    assert.equal(commit.status, 0, commit.stderr);
    assert.equal((JSON.parse(commit.stdout) as { moved: boolean }).moved, true);
    assert.ok(freeBytes(ts) >= free - DB_SLACK, `the commit used space: ${free} -> ${freeBytes(ts)}`);
    assert.deepEqual(readdirSync(merged).sort(), ['data', 'etc']);
    // The old upper is the layer now, where it was; the container writes to a fresh one.
    assert.deepEqual(readdirSync(upper), ['data']);
    const after = JSON.parse((await runCli(['--root', ts.root, 'container', 'inspect', 'c', '--json'])).stdout) as Array<{ paths: { upper: string } }>;
    assert.notEqual(after[0]!.paths.upper, upper);
    assert.deepEqual(readdirSync(after[0]!.paths.upper), []);

    const rm = await runCli(['--root', ts.root, 'container', 'rm', 'c']);
    assert.equal(rm.status, 0, rm.stderr);
  });
});
