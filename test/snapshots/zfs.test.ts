/**
 * The snapshotter contract on the zfs driver: a pool in a file on zfs-fuse (started here if no
 * ZFS answers, stopped in after()), one parent dataset per test, real bind mounts (root).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isShibafuError } from '../../src/errors.js';
import { systemMounter } from '../../src/overlay/system-mounter.js';
import { openSnapshotter } from '../../src/snapshots/meta-snapshotter.js';
import { zfsStorage } from '../../src/snapshots/zfs/zfs-storage.js';
import { createZfsTestPool, zfsUnavailable, type ZfsTestPool } from '../helpers/zfs-pool.js';
import { contextFor, type DriverFixture } from './driver-fixture.js';
import { snapshotterContract } from './snapshotter-contract.js';

const ZFS_MODULE = fileURLToPath(new URL('../../src/snapshots/zfs/zfs-storage.js', import.meta.url));

const skip = zfsUnavailable();
const zp: ZfsTestPool | undefined = skip === false ? createZfsTestPool() : undefined;
after(() => zp?.destroy());

let fixtures = 0;

function zfs(...args: string[]): string {
  const r = spawnSync('zfs', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`zfs ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function setup(): DriverFixture & { dataset: string; mountpoint: string } {
  const pool = zp as ZfsTestPool;
  const root = fs.mkdtempSync(join(tmpdir(), 'shibafu-zfs-store-'));
  const empty = join(root, 'empty');
  fs.mkdirSync(empty);
  const mounter = systemMounter({ emptyDir: empty });
  const dataset = `${pool.pool}/t${++fixtures}`;
  zfs('create', dataset);
  const mountpoint = join(pool.mountpoint, `t${fixtures}`);
  return {
    root, dataset, mountpoint,
    spec: { module: ZFS_MODULE, factory: 'zfsStorage', args: { dataset } },
    mounter,
    mountTable: mounter,
    // Every dataset under the parent, and every entry of its mount point (a mount point
    // directory left behind by a destroyed dataset counts too).
    listObjects: () => {
      const datasets = zfs('list', '-H', '-r', '-o', 'name', dataset).split('\n').filter((n) => n !== '' && n !== dataset).map((n) => n.slice(dataset.length + 1));
      return [...new Set([...datasets, ...fs.readdirSync(mountpoint)])].sort();
    },
    cleanup: () => {
      for (let i = 0; ; i++) {
        const r = spawnSync('zfs', ['destroy', '-R', dataset], { encoding: 'utf8' });
        if (r.status === 0) break;
        if (i > 30) throw new Error(`zfs destroy -R ${dataset}: ${r.stderr}`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

snapshotterContract({ driver: 'zfs (zfs-fuse)', skip, setup });

describe('zfs driver', { skip }, () => {
  test('device nodes, owners and setuid bits survive a commit and show in a view', () => {
    const fx = setup();
    const ctx = contextFor(fx.root, fx.mountTable);
    const sn = openSnapshotter(ctx, zfsStorage({ dataset: fx.dataset }));
    const target = fs.mkdtempSync(join(fx.root, 'mnt-'));
    try {
      assert.deepEqual(sn.capabilities, { format: 'dir', stacksChains: false, maxDepth: null, xattrs: false, readonlyViews: true });
      fx.mounter.mount(sn.prepare('p'), target);
      const r = spawnSync('mknod', [join(target, 'wh'), 'c', '0', '0']);
      assert.equal(r.status, 0, String(r.stderr));
      fs.writeFileSync(join(target, 'suid'), '#!/bin/sh\n');
      fs.chownSync(join(target, 'suid'), 1000, 2000);
      fs.chmodSync(join(target, 'suid'), 0o4755);
      fx.mounter.unmount(target);
      sn.commit('c', 'p');
      fx.mounter.mount(sn.view('v', 'c'), target);
      const wh = fs.lstatSync(join(target, 'wh'));
      assert.ok(wh.isCharacterDevice());
      assert.equal(wh.rdev, 0);
      const suid = fs.lstatSync(join(target, 'suid'));
      assert.deepEqual([suid.uid, suid.gid, suid.mode & 0o7777], [1000, 2000, 0o4755]);
      fx.mounter.unmount(target);
    } finally {
      fx.mounter.unmount(target);
      sn.close(); ctx.db.close(); fx.cleanup();
    }
  });

  test('a bind of a FUSE-backed dataset is seen as in use, and not once unmounted', () => {
    const fx = setup();
    const ctx = contextFor(fx.root, fx.mountTable);
    const sn = openSnapshotter(ctx, zfsStorage({ dataset: fx.dataset }));
    const target = fs.mkdtempSync(join(fx.root, 'mnt-'));
    try {
      const [m] = sn.prepare('p');
      assert.ok(m !== undefined && m.type === 'bind');
      assert.equal(m.source, join(fx.mountpoint, '1'));
      assert.equal(fx.mountTable.isInUse(m.source), false, 'the dataset\'s own mount is not a use');
      fx.mounter.mount([m], target);
      assert.equal(fx.mountTable.isInUse(m.source), true);
      fx.mounter.unmount(target);
      assert.equal(fx.mountTable.isInUse(m.source), false);
    } finally {
      fx.mounter.unmount(target);
      sn.close(); ctx.db.close(); fx.cleanup();
    }
  });

  test('publish replaces a leftover dataset at the id, and discardStaged takes a mounted staged clone', () => {
    const fx = setup();
    try {
      const st = zfsStorage({ dataset: fx.dataset });
      st.build('aa', { kind: 'active', lowers: [] });
      zfs('create', `${fx.dataset}/5`);
      fs.writeFileSync(join(fx.mountpoint, '5', 'stale'), 'x');
      st.publish('aa', 5);
      assert.deepEqual(fx.listObjects(), ['5']);
      assert.deepEqual(fs.readdirSync(join(fx.mountpoint, '5')), [], 'the leftover\'s files went with it');
      st.seal(5);
      st.build('bb', { kind: 'view', lowers: [{ id: 5, kind: 'committed' }] });
      zfs('mount', `${fx.dataset}/staged-bb`);
      st.discardStaged('bb');
      st.discardStaged('bb');
      st.destroy(5);
      st.destroy(5);
      assert.deepEqual(fx.listObjects(), []);
    } finally { fx.cleanup(); }
  });

  test('a missing pool or dataset is refused clearly at the first call that needs it (opening runs no zfs command); a name that is none at once', () => {
    const noPool = zfsStorage({ dataset: 'nopool-shibafu/x' });
    assert.throws(() => noPool.listIds(), (e: unknown) => isShibafuError(e, 'UNSUPPORTED') && /no pool "nopool-shibafu"/.test(e.message) && /zpool create/.test(e.hint ?? ''));
    assert.throws(() => noPool.mounts({ id: 1, kind: 'active' }, [], { volatile: false }), (e: unknown) => isShibafuError(e, 'UNSUPPORTED'), 'a path needs the checked mount point too');
    const pool = (zp as ZfsTestPool).pool;
    const missing = zfsStorage({ dataset: `${pool}/missing` });
    assert.throws(() => missing.build('t', { kind: 'active', lowers: [] }), (e: unknown) => isShibafuError(e, 'UNSUPPORTED') && /does not exist/.test(e.message) && /zfs create/.test(e.hint ?? ''));
    assert.throws(() => zfsStorage({ dataset: '-o/x' }), { code: 'USAGE' });
  });
});
