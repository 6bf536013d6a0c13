/**
 * The snapshotter contract on the btrfs driver: real subvolumes on a btrfs loop device this file
 * makes (256 MiB sparse image) and tears down in after(), real bind mounts (root).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isShibafuError } from '../../src/errors.js';
import { systemMounter } from '../../src/overlay/system-mounter.js';
import { btrfsStorage } from '../../src/snapshots/btrfs/btrfs-storage.js';
import { openSnapshotter } from '../../src/snapshots/meta-snapshotter.js';
import { createSubvolume, destroySubvolume, isSubvolume, subvolumeReadonly } from '../../src/sys/btrfs.js';
import { makeLoopBtrfs, needsBtrfs, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { contextFor, type DriverFixture } from './driver-fixture.js';
import { snapshotterContract } from './snapshotter-contract.js';

const BTRFS_MODULE = fileURLToPath(new URL('../../src/snapshots/btrfs/btrfs-storage.js', import.meta.url));

let loop: LoopBtrfs | undefined;
after(() => loop?.teardown());

/** A fresh store root on the (lazily made) btrfs, with its storage root under it. */
function setup(): DriverFixture {
  loop ??= makeLoopBtrfs('256M');
  // The store root (shibafu.db, tmp/, the mount targets) on the btrfs too, as a store would be.
  const root = mkdtempSync(join(loop.mnt, 'store-'));
  const empty = join(root, 'empty');
  mkdirSync(empty);
  const mounter = systemMounter({ emptyDir: empty });
  const storageRoot = join(root, 'snapshots');
  return {
    root,
    spec: { module: BTRFS_MODULE, factory: 'btrfsStorage', args: { root: storageRoot } },
    mounter,
    mountTable: mounter,
    listObjects: () => readdirSync(storageRoot).sort(),
    cleanup: () => {
      // rm -r cannot take a read-only subvolume apart: destroy each first (a failed case leaves some).
      for (const name of safeReaddir(storageRoot)) {
        if (isSubvolume(join(storageRoot, name))) destroySubvolume(join(storageRoot, name));
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

snapshotterContract({ driver: 'btrfs', skip: needsBtrfs, setup });

describe('btrfs driver specifics', { skip: needsBtrfs }, () => {
  test('a store root on another file system is refused: UNSUPPORTED naming btrfs', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'shibafu-not-btrfs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.throws(() => btrfsStorage({ root: join(dir, 'snapshots') }), (err: unknown) =>
      isShibafuError(err, 'UNSUPPORTED') && /btrfs/.test(err.message) && /btrfs/.test(err.hint ?? ''));
  });

  test('an active snapshot is a writable subvolume, a committed one and a view read-only ones', (t) => {
    const fx = setup();
    const ctx = contextFor(fx.root, fx.mountTable);
    const sn = openSnapshotter(ctx, btrfsStorage(fx.spec.args as { root: string }));
    t.after(() => { sn.close(); ctx.db.close(); fx.cleanup(); });
    sn.prepare('a');
    const active = sn.changeset('a');
    assert.equal(active.format, 'dir');
    assert.equal(isSubvolume(active.dir), true);
    assert.equal(subvolumeReadonly(active.dir), false);
    writeFileSync(join(active.dir, 'f'), 'x');
    sn.commit('c', 'a');
    const committed = sn.changeset('c');
    assert.equal(committed.dir, active.dir, 'commit seals in place: the tree does not move');
    assert.equal(subvolumeReadonly(committed.dir), true);
    assert.throws(() => writeFileSync(join(committed.dir, 'f'), 'y'), { code: 'EROFS' });
    sn.view('v', 'c');
    const view = sn.changeset('v');
    assert.deepEqual(view.format === 'dir' ? view.parentDir : null, committed.dir);
    assert.equal(subvolumeReadonly(view.dir), true);
    assert.deepEqual(sn.mounts('v'), [{ type: 'bind', source: view.dir, readonly: true }]);
  });

  test('removing a snapshot destroys the subvolumes nested in it (a container may make some)', (t) => {
    const fx = setup();
    const ctx = contextFor(fx.root, fx.mountTable);
    const sn = openSnapshotter(ctx, btrfsStorage(fx.spec.args as { root: string }));
    t.after(() => { sn.close(); ctx.db.close(); fx.cleanup(); });
    sn.prepare('a');
    const dir = sn.changeset('a').dir;
    mkdirSync(join(dir, 'var', 'lib'), { recursive: true });
    createSubvolume(join(dir, 'var', 'lib', 'machines'));
    createSubvolume(join(dir, 'var', 'lib', 'machines', 'inner'));
    writeFileSync(join(dir, 'var', 'lib', 'machines', 'inner', 'f'), 'x');
    sn.remove('a');
    assert.deepEqual(fx.listObjects(), []);
  });
});

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
