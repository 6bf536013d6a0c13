/**
 * The store on every storage driver: the same archives give the same diffIds and chainIds and
 * export byte for byte; a stack mounts as the layers say (whiteouts and opaque dirs applied, in
 * overlay's format or btrfs's and zfs's whole trees); a container runs on it through runc; its
 * changes list and commit (from an upper, or as the difference of two trees), running or not;
 * stacks compare, diff layers are made and applied, a host dir becomes a layer; and a store keeps
 * the driver it was created with.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { chainIdOf, type DiffId } from '../src/ids.js';
import { openStore, type StorageDriver } from '../src/index.js';
import { makeBusyboxTar } from './fixtures/rootfs-busybox.js';
import { runCli } from './helpers/cli.js';
import { makeLoopBtrfs, needsBtrfs, type LoopBtrfs } from './helpers/loop-btrfs.js';
import { sparseContent, tarOf, TarBuilder } from './helpers/tar-builder.js';
import { needsRoot } from './helpers/temp-store.js';
import { createZfsTestPool, zfsUnavailable, type ZfsTestPool } from './helpers/zfs-pool.js';

const base = mkdtempSync(join(tmpdir(), 'shibafu-drivers-'));

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Layer 1: a busybox rootfs plus a few files; layer 2 deletes one, replaces a dir's content, adds one. */
const busyboxTar = join(base, 'busybox.tar');
const LAYER2 = tarOf((t) => t.file('etc/motd', 'layer 2\n').whiteout('gone').dir('data').opaque('data').file('data/new', 'new\n'));
function layer1(): Buffer {
  return readFileSync(busyboxTar);
}

interface DriverSetup {
  readonly driver: StorageDriver;
  readonly skip: string | false;
  /** A fresh store root for the driver (and its options). */
  make(): { root: string; options: Record<string, string> };
}

let btrfs: LoopBtrfs | undefined;
let zp: ZfsTestPool | undefined;
let n = 0;
const fuseMissing = spawnSync('fuse-overlayfs', ['--version']).error !== undefined ? 'fuse-overlayfs is not installed' : false;

const DRIVERS: DriverSetup[] = [
  { driver: 'overlay', skip: needsRoot, make: () => ({ root: join(base, `overlay-${++n}`), options: {} }) },
  { driver: 'fuse-overlayfs', skip: needsRoot || fuseMissing, make: () => ({ root: join(base, `fuse-${++n}`), options: {} }) },
  {
    driver: 'btrfs', skip: needsBtrfs,
    make: () => {
      btrfs ??= makeLoopBtrfs('512M', base);
      return { root: join(btrfs.mnt, `store-${++n}`), options: {} };
    },
  },
  {
    driver: 'zfs', skip: zfsUnavailable(),
    make: () => {
      zp ??= createZfsTestPool();
      const dataset = `${zp.pool}/store${++n}`;
      const mountpoint = join(zp.mountpoint, `store${n}-snapshots`);
      const r = spawnSync('zfs', ['create', '-o', `mountpoint=${mountpoint}`, dataset], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return { root: join(base, `zfs-${n}`), options: { 'zfs.fsname': dataset } };
    },
  },
];
// The loop fs and the pool live under `base`: they go first.
after(() => { btrfs?.teardown(); zp?.destroy(); rmSync(base, { recursive: true, force: true }); });

async function cli(root: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return runCli(['--root', root, ...args]);
}

for (const d of DRIVERS) {
  describe(`the store on the ${d.driver} driver`, { skip: d.skip }, () => {
    test('layers: the same ids as any driver, exports byte for byte, a stack mounted as the layers say', async () => {
      if (readdirSync(base).every((f) => f !== 'busybox.tar')) makeBusyboxTar(join(base, 'bb'), busyboxTar);
      const { root, options } = d.make();
      const extra = join(base, `extra-${n}.tar`);
      // The busybox rootfs, plus what layer 2 changes: a file it deletes, a dir it makes opaque.
      writeFileSync(extra, tarOf((t) => t.file('gone', 'gone\n').dir('data').file('data/old', 'old\n').file('etc/motd', 'layer 1\n')));
      const store = openStore({ root, storageDriver: d.driver, storageOptions: options });
      try {
        const l1 = (await store.createLayer({ name: 'rootfs', source: busyboxTar })).layer;
        const l1b = (await store.createLayer({ name: 'extra', source: extra, parent: 'rootfs' })).layer;
        const l2 = (await store.createLayer({ name: 'l2', source: writeInput('l2.tar', LAYER2), parent: 'extra' })).layer;
        assert.equal(l1.diffId, sha256(layer1()));
        assert.equal(l1b.chainId, chainIdOf(l1.chainId, sha256(readFileSync(extra)) as DiffId));
        assert.equal(l2.chainId, chainIdOf(l1b.chainId, sha256(LAYER2) as DiffId));
        for (const [name, input] of [['rootfs', layer1()], ['extra', readFileSync(extra)], ['l2', LAYER2]] as const) {
          const out = join(base, `export-${n}-${name}.tar`);
          await store.exportLayer(name, { file: out });
          assert.equal(sha256(readFileSync(out)), sha256(input), `${name} exported byte for byte`);
        }
        const target = join(base, `mnt-${n}`);
        await store.mountLayers({ layers: ['l2'], target });
        try {
          assert.equal(readFileSync(join(target, 'etc/motd'), 'utf8'), 'layer 2\n');
          assert.deepEqual(readdirSync(target).includes('gone'), false, 'the whiteout deleted it');
          assert.deepEqual(readdirSync(join(target, 'data')), ['new'], 'the opaque dir hides what was below');
          assert.equal(readlinkSync(join(target, 'bin/sh')), 'busybox');
        } finally {
          store.unmount(target);
        }
      } finally {
        store.close();
      }
      // The store keeps its driver.
      const other = d.driver === 'overlay' ? 'fuse-overlayfs' : 'overlay';
      const mismatch = await cli(root, '--storage-driver', other, 'layer', 'list');
      assert.equal(mismatch.status, 6, mismatch.stderr);
      assert.match(mismatch.stderr, new RegExp(`^error\\[DRIVER_MISMATCH\\]: .*created with the ${d.driver} driver`));
      const list = await cli(root, 'layer', 'list');
      assert.equal(list.status, 0, list.stderr);

      // A container through runc: it sees the stack and writes into its own snapshot.
      const run = await cli(root, 'run', '--name', 'c', 'l2', 'sh', '-c', 'cat /etc/motd; echo written > /written; rm /etc/motd');
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, 'layer 2\n');
      const diff = await cli(root, 'container', 'diff', 'c');
      const commit = await cli(root, 'container', 'commit', 'c', 'c-img');
      // Listed from the upper (overlay, fuse-overlayfs) or as the difference of two trees (btrfs,
      // zfs): the same lines; committed by the snapshotter on every driver.
      assert.equal(diff.status, 0, diff.stderr);
      assert.match(diff.stdout, /^A \/written/m);
      assert.match(diff.stdout, /^D \/etc\/motd/m);
      assert.equal(commit.status, 0, commit.stderr);
      const again = await cli(root, 'run', '--rm', 'c-img', 'sh', '-c', 'cat /written; ls /etc/motd 2>&1 || true');
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stdout, /^written\n.*No such file/s);
      const exported = join(base, `c-img-${n}.tar`);
      assert.equal((await cli(root, 'layer', 'export', 'c-img', '-o', exported)).status, 0, 'the committed layer exports, checked against its diffId');
      assert.equal((await cli(root, 'container', 'rm', 'c')).status, 0);

      // A running container's commit: paused and its changes copied (on whole trees, their tar
      // applied onto a new snapshot of the parent's).
      assert.equal((await cli(root, 'run', '-d', '--name', 'r', 'l2', 'sh', '-c', 'echo live > /live; sleep 60')).status, 0);
      for (let i = 0; i < 50 && !existsSync(join(root, 'containers')); i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 300));
      const live = await cli(root, 'container', 'commit', 'r', 'r-img');
      assert.equal(live.status, 0, live.stderr);
      assert.equal((await cli(root, 'container', 'rm', '-f', 'r')).status, 0);
      const liveRun = await cli(root, 'run', '--rm', 'r-img', 'cat', '/live');
      assert.equal(liveRun.stdout, 'live\n', liveRun.stderr);

      // Stacks compared, a diff layer made and applied again, a layer from a host directory.
      const ldiff = await cli(root, 'layer', 'diff', 'extra', 'l2');
      assert.equal(ldiff.status, 0, ldiff.stderr);
      assert.match(ldiff.stdout, /^D \/gone/m);
      assert.match(ldiff.stdout, /^A \/data\/new/m);
      assert.equal((await cli(root, 'layer', 'diff-create', 'patch', '--from', 'extra', '--to', 'l2')).status, 0);
      assert.equal((await cli(root, 'layer', 'diff', 'patch', 'l2')).stdout, '', 'the diff layer on extra shows l2');
      const applied = await cli(root, 'layer', 'apply', 'patch', '--onto', 'rootfs', 'patch-on-rootfs', '--json');
      assert.equal(applied.status, 0, applied.stderr);
      assert.equal((JSON.parse(applied.stdout) as { diffId: string }).diffId, openStoreLayer(root, 'patch').diffId);
      const host = join(base, `host-${n}`);
      mkdirSync(join(host, 'srv'), { recursive: true });
      writeFileSync(join(host, 'srv', 'index.html'), 'hello\n');
      assert.equal((await cli(root, 'layer', 'create', 'from-dir', '--from-dir', host, '--parent', 'l2')).status, 0);
      const fromDir = await cli(root, 'run', '--rm', 'from-dir', 'cat', '/srv/index.html');
      assert.equal(fromDir.stdout, 'hello\n', fromDir.stderr);
      for (const name of ['from-dir', 'patch-on-rootfs', 'patch', 'r-img']) {
        const out = join(base, `check-${n}-${name}.tar`);
        assert.equal((await cli(root, 'layer', 'export', name, '-o', out)).status, 0, `${name} exports, checked against its diffId`);
      }
      // A layer with an extended attribute: kept where the driver holds xattrs, refused by name
      // (never dropped) where it does not.
      const withXattr = writeInput('xattr.tar', tarOf((t) => t.file('tagged', 'x', { pax: [['SCHILY.xattr.user.origin', 'test']] })));
      const x = await cli(root, 'layer', 'create', 'tagged', withXattr, '--parent', 'l2');
      if (d.driver === 'zfs') {
        assert.equal(x.status, 6, x.stderr);
        assert.match(x.stderr, /^error\[UNSUPPORTED\]: Cannot import "tagged" into the zfs driver: it has the extended attribute "user.origin"/);
      } else {
        assert.equal(x.status, 0, x.stderr);
        assert.equal((await cli(root, 'layer', 'rm', 'tagged')).status, 0);
      }
      const rm = await cli(root, 'layer', 'rm', 'l2');
      assert.equal(rm.status, 4, rm.stderr); // c-img stands on it
      assert.equal((await cli(root, 'layer', 'rm', 'c-img', 'from-dir', 'r-img', 'patch', 'l2')).status, 0);
    });

    test('what real images carry: sparse files with their holes, hardlinked symlinks, whiteouts that hide nothing', async () => {
      const { root, options } = d.make();
      const store = openStore({ root, storageDriver: d.driver, storageOptions: options });
      try {
        const layer = (await store.createLayer({ name: 'features', source: writeInput('features.tar', FEATURES) })).layer;
        const child = (await store.createLayer({ name: 'features-child', source: writeInput('features-child.tar', FEATURES_CHILD), parent: 'features' })).layer;
        for (const [name, input] of [['features', FEATURES], ['features-child', FEATURES_CHILD]] as const) {
          const out = join(base, `export-${n}-${name}.tar`);
          await store.exportLayer(name, { file: out });
          assert.ok(readFileSync(out).equals(input), `${name} exported byte for byte`);
        }
        const disk = join(layer.path, 'var/disk.img');
        assert.ok(readFileSync(disk).equals(sparseContent(DISK)));
        assert.ok(statSync(disk).blocks * 512 < 1 << 20, `the 8 MiB file takes ${statSync(disk).blocks * 512} bytes: its holes stayed holes`);
        assert.equal(lstatSync(join(layer.path, 'bin/ash')).ino, lstatSync(join(layer.path, 'bin/sh')).ino);
        assert.equal(readlinkSync(join(layer.path, 'bin/ash')), 'busybox');
        const target = join(base, `mnt-features-${n}`);
        await store.mountLayers({ layers: ['features-child'], target });
        try {
          assert.deepEqual(listedButMissing(target), [], 'every listed name can be looked up (no c????????? entry)');
          assert.deepEqual(readdirSync(join(target, 'var')).sort(), ['old.img']);
          assert.ok(readFileSync(join(target, 'var/old.img')).equals(sparseContent(OLD)));
          assert.equal(readlinkSync(join(target, 'bin/ash')), 'busybox');
        } finally {
          store.unmount(target);
        }
        assert.ok(child.diffId !== null);
      } finally {
        store.close();
      }
    });
  });
}

const DISK = { realSize: 8 << 20, map: [[0, 4096], [4 << 20, 4096], [8 << 20, 0]] as Array<[number, number]> };
const OLD = { realSize: 1 << 20, map: Array.from({ length: 30 }, (_, i): [number, number] => [i * 32768, 100]) };
/** A sparse file in PAX 1.0 and one in old GNU (extension blocks), a hardlinked symlink, whiteouts of nothing. */
const FEATURES = new TarBuilder()
  .dir('etc').whiteout('etc/nothing').whiteout('usr/nothing')
  .sparse('var/disk.img', { format: 'pax-1.0', ...DISK })
  .sparse('var/old.img', { format: 'gnu', ...OLD })
  .symlink('bin/sh', 'busybox').hardlink('bin/ash', 'bin/sh')
  .build();
const FEATURES_CHILD = new TarBuilder().dir('var').whiteout('var/disk.img').whiteout('var/nothing').whiteout('opt/nothing').build();

/** Names a listing gives that lstat cannot find: what `ls -l` shows as `c?????????`. */
function listedButMissing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`;
      try {
        if (lstatSync(join(root, child)).isDirectory()) walk(child);
      } catch {
        out.push(child);
      }
    }
  };
  walk('');
  return out;
}

function writeInput(name: string, data: Buffer): string {
  const dir = join(base, 'inputs');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${++n}-${name}`);
  writeFileSync(path, data);
  return path;
}

/** A layer's details, read through the library (the CLI's --json of inspect is an array). */
function openStoreLayer(root: string, name: string): { diffId: string | null } {
  const store = openStore({ root });
  try {
    return store.inspectLayer(name);
  } finally {
    store.close();
  }
}
