/**
 * The fuse-overlayfs driver: the snapshotter contract on real FUSE mounts (root, /dev/fuse, the
 * fuse-overlayfs program), the probe with an injected environment, and the mounts themselves read
 * against a kernel overlay of the same directories.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isShibafuError } from '../../src/errors.js';
import { systemMounter } from '../../src/overlay/system-mounter.js';
import { fuseOverlayMaxDepth, fuseOverlayStorage } from '../../src/snapshots/fuse-overlayfs/fuse-overlay-storage.js';
import { openSnapshotter } from '../../src/snapshots/meta-snapshotter.js';
import type { Mount } from '../../src/snapshots/mount.js';
import {
  escapeFuseOption, FUSE_OVERLAY_FSTYPE, fuseOverlayArgs, fuseOverlayDaemons, parseFuseOverlayCmdline, probeFuseOverlay,
} from '../../src/sys/fuse-overlayfs.js';
import { mknod } from '../../src/sys/mknod.js';
import { isOnFuse, readMountInfo } from '../../src/sys/mount-info.js';
import { unmountOverlay } from '../../src/overlay/mount-overlay.js';
import { lgetxattr, llistxattr, lsetxattr } from '../../src/sys/xattr.js';
import { isRoot } from '../helpers/temp-store.js';
import { contextFor, overlayObjects } from './driver-fixture.js';
import { snapshotterContract } from './snapshotter-contract.js';

const MODULE = fileURLToPath(new URL('../../src/snapshots/fuse-overlayfs/fuse-overlay-storage.js', import.meta.url));
const probe = probeFuseOverlay();
const skip: string | false = !isRoot ? 'needs root (FUSE mounts as root, mknod, trusted.* xattrs)'
  : probe.reason !== null ? `fuse-overlayfs cannot run here: ${probe.reason}` : false;
if (skip !== false) console.log(`# skipping fuse-overlayfs mount tests: ${skip}`);

/** Every temp root of this file: whatever is still mounted under one is detached before removal. */
const roots: string[] = [];
function tempRoot(): string {
  const root = fs.mkdtempSync(join(tmpdir(), 'shibafu-fuse-'));
  roots.push(root);
  return root;
}
function removeRoot(root: string): void {
  const under = readMountInfo().filter((e) => e.mountPoint.startsWith(`${root}/`)).reverse();
  for (const e of under) unmountOverlay(e.mountPoint, { detach: true });
  fs.rmSync(root, { recursive: true, force: true });
}
after(() => { for (const r of roots) removeRoot(r); });

snapshotterContract({
  driver: 'fuse-overlayfs',
  skip,
  setup() {
    const root = tempRoot();
    const empty = join(root, 'empty');
    fs.mkdirSync(empty);
    const mounter = systemMounter({ emptyDir: empty });
    const storageRoot = join(root, 'snapshots');
    return {
      root,
      spec: { module: MODULE, factory: 'fuseOverlayStorage', args: { root: storageRoot } },
      mounter,
      mountTable: mounter,
      listObjects: () => overlayObjects(storageRoot),
      cleanup: () => removeRoot(root),
    };
  },
});

describe('probeFuseOverlay (injected environment)', () => {
  const env = (over: Partial<Parameters<typeof probeFuseOverlay>[0] & object>['env'] = {}) => ({
    searchPath: '/opt/a:relative:/opt/b',
    isExecutable: (p: string) => p === '/opt/b/fuse-overlayfs' || p === '/x/fo',
    isCharDevice: (p: string) => p === '/dev/fuse',
    versionText: () => 'fusermount3 version: 3.14.0\nfuse-overlayfs: version 1.10\nFUSE library version 3.14.0\n',
    ...over,
  });

  test('finds the program in the search path (absolute dirs only) and reads its version', () => {
    assert.deepEqual(probeFuseOverlay({ env: env() }), { program: '/opt/b/fuse-overlayfs', devFuse: true, version: '1.10', reason: null });
    assert.equal(probeFuseOverlay({ env: env(), version: false }).version, null);
    assert.equal(probeFuseOverlay({ program: '/x/fo', env: env() }).program, '/x/fo');
  });

  test('says what is missing: the program, /dev/fuse, or both', () => {
    assert.deepEqual(probeFuseOverlay({ env: env({ searchPath: '/nowhere' }) }), {
      program: null, devFuse: true, version: null, reason: 'no "fuse-overlayfs" program in /nowhere',
    });
    assert.equal(probeFuseOverlay({ env: env({ isCharDevice: () => false }) }).reason, '/dev/fuse is missing (the fuse module is not loaded)');
    assert.equal(
      probeFuseOverlay({ program: '/y/fo', env: env({ isCharDevice: () => false }) }).reason,
      '"/y/fo" is not an executable file; /dev/fuse is missing (the fuse module is not loaded)',
    );
  });

  test('opening the driver without the program fails UNSUPPORTED, naming the package and modprobe fuse', () => {
    const root = tempRoot();
    assert.throws(() => fuseOverlayStorage({ root: join(root, 's'), program: join(root, 'no-such-fuse-overlayfs') }), (err: unknown) => {
      assert.ok(isShibafuError(err, 'UNSUPPORTED'), String(err));
      assert.match(err.message, /no-such-fuse-overlayfs" is not an executable file/);
      assert.match(err.hint ?? '', /apt-get install fuse-overlayfs/);
      assert.match(err.hint ?? '', /modprobe fuse/);
      return true;
    });
  });
});

describe('fuse-overlayfs arguments and command lines (pure)', () => {
  test('lowerdir is top first; read-only without an upper; commas and backslashes escaped for libfuse', () => {
    assert.deepEqual(fuseOverlayArgs({ program: '/p', lowers: ['/l/a', '/l/b'] }, '/m'), ['-o', 'lowerdir=/l/b:/l/a,ro', '/m']);
    assert.deepEqual(
      fuseOverlayArgs({ program: '/p', lowers: ['/l/a,1'], upper: '//s/u\\x', work: '/s/w' }, '/m'),
      ['-o', 'lowerdir=/l/a\\,1,upperdir=/s/u\\\\x,workdir=/s/w,writeback=0', '/m'],
    );
    assert.deepEqual(
      fuseOverlayArgs({ program: '/p', lowers: ['/l/a'], upper: '/u', work: '/w', volatile: true }, '/m'),
      ['-o', 'lowerdir=/l/a,upperdir=/u,workdir=/w,writeback=0,volatile', '/m'],
    );
    assert.equal(escapeFuseOption('a,b\\c'), 'a\\,b\\\\c');
  });

  test('a ":" in a lower or upper path is refused: fuse-overlayfs splits on it without escape', () => {
    assert.throws(() => fuseOverlayArgs({ program: '/p', lowers: ['/l/a:b'] }, '/m'), (e: unknown) => isShibafuError(e, 'UNSUPPORTED'));
    assert.throws(() => fuseOverlayArgs({ program: '/p', lowers: ['/l'], upper: '/u:1', work: '/w' }, '/m'), (e: unknown) => isShibafuError(e, 'UNSUPPORTED'));
  });

  test('a command line gives back the mount point and every dir, escapes undone', () => {
    const args = fuseOverlayArgs({ program: '/usr/bin/fuse-overlayfs', lowers: ['/l/a,1', '/l/b'], upper: '/u', work: '/w' }, '/m');
    assert.deepEqual(parseFuseOverlayCmdline(['/usr/bin/fuse-overlayfs', ...args]), { mountpoint: '/m', dirs: ['/l/b', '/l/a,1', '/u', '/w'] });
    assert.deepEqual(parseFuseOverlayCmdline(['fuse-overlayfs', '-f', '-olowerdir=/a\\054b', '/m']), { mountpoint: '/m', dirs: ['/a,b'] });
    assert.equal(parseFuseOverlayCmdline(['/bin/sleep', '-o', 'lowerdir=/a', '/m']), null);
  });

  test('maxDepth is what one execve argument holds for the store\'s paths', () => {
    assert.equal(fuseOverlayMaxDepth('/var/lib/shibafu/snapshots'), 3446);
    // 212-byte lowers, 217-byte upper and work: (131071 - 466) / 213.
    assert.equal(fuseOverlayMaxDepth(`/${'x'.repeat(200)}`), 613);
  });
});

/** type, mode, owner, device, size, content digest, link target and user.* xattrs of every node. */
function describeTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(join(dir, rel)).sort()) {
      const p = rel === '' ? name : `${rel}/${name}`;
      const abs = join(dir, p);
      const st = fs.lstatSync(abs);
      const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 'p';
      const xattrs = llistxattr(abs).filter((n) => n.startsWith('user.')).sort().map((n) => `${n}=${lgetxattr(abs, n)?.toString()}`);
      out[p] = [
        type, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`,
        type === 'c' || type === 'b' ? `${st.rdev}` : '',
        type === 'f' ? `${st.size}:${createHash('sha256').update(fs.readFileSync(abs)).digest('hex').slice(0, 12)}` : '',
        type === 'l' ? fs.readlinkSync(abs) : '', ...xattrs,
      ].join(' ');
      if (type === 'd') walk(p);
    }
  };
  walk('');
  return out;
}

/** Two lowers: l1 has owners, modes, a device, a symlink, a fifo; l2 whites out and makes opaque. */
function makeLowers(base: string): { l1: string; l2: string } {
  const l1 = join(base, 'l1');
  const l2 = join(base, 'l2');
  fillL1(l1);
  fs.mkdirSync(join(l2, 'var', 'cache'), { recursive: true });
  lsetxattr(join(l2, 'var', 'cache'), 'trusted.overlay.opaque', Buffer.from('y'));
  fs.chmodSync(join(l2, 'var', 'cache'), 0o1777);
  fs.writeFileSync(join(l2, 'var', 'cache', 'new'), 'new');
  mknod(join(l2, 'gone'), 'char', 0, 0, 0);
  return { l1, l2 };
}

function fillL1(l1: string): void {
  fs.mkdirSync(join(l1, 'etc'), { recursive: true });
  fs.mkdirSync(join(l1, 'var', 'cache'), { recursive: true });
  fs.writeFileSync(join(l1, 'etc', 'shadow'), 'secret\n');
  fs.chownSync(join(l1, 'etc', 'shadow'), 0, 42);
  fs.chmodSync(join(l1, 'etc', 'shadow'), 0o640);
  fs.writeFileSync(join(l1, 'su'), Buffer.alloc(70_000, 7));
  fs.chmodSync(join(l1, 'su'), 0o4755);
  fs.writeFileSync(join(l1, 'owned'), 'x');
  fs.chownSync(join(l1, 'owned'), 1234, 5678);
  lsetxattr(join(l1, 'owned'), 'user.note', Buffer.from('kept'));
  fs.writeFileSync(join(l1, 'gone'), 'hidden by a whiteout');
  fs.writeFileSync(join(l1, 'var', 'cache', 'old'), 'hidden by an opaque dir');
  mknod(join(l1, 'null'), 'char', 0o666, 1, 3);
  fs.chmodSync(join(l1, 'null'), 0o666); // mknod's mode went through the umask
  mknod(join(l1, 'fifo'), 'fifo', 0o600);
  fs.symlinkSync('../etc/shadow', join(l1, 'link'));
}

describe('fuse-overlayfs mounts, read against a kernel overlay of the same dirs', { skip }, () => {
  const program = probe.program as string;

  test('owners, modes, a whiteout, an opaque dir, a device, a fifo and a symlink read the same', () => {
    const base = tempRoot();
    const { l1, l2 } = makeLowers(base);
    fs.mkdirSync(join(base, 'empty'));
    const mounter = systemMounter({ emptyDir: join(base, 'empty') });
    const kernel = join(base, 'kernel');
    const fuse = join(base, 'fuse');
    fs.mkdirSync(kernel);
    fs.mkdirSync(fuse);
    mounter.mount([{ type: 'overlay', lowers: [l1, l2] }], kernel);
    mounter.mount([{ type: 'fuse-overlayfs', program, lowers: [l1, l2] }], fuse);
    try {
      assert.equal(readMountInfo().findLast((e) => e.mountPoint === fs.realpathSync(fuse))?.fsType, FUSE_OVERLAY_FSTYPE);
      assert.deepEqual([isOnFuse(fuse), isOnFuse(kernel)], [true, false], 'statfs tells the FUSE mount (whose unmount waits for its daemon) from the kernel one');
      const viaFuse = describeTree(fuse);
      assert.deepEqual(viaFuse, describeTree(kernel));
      assert.equal(viaFuse.gone, undefined, 'the whiteout hides l1/gone');
      assert.deepEqual(Object.keys(viaFuse).filter((p) => p.startsWith('var/cache/')), ['var/cache/new'], 'the opaque dir hides l1/var/cache/old');
      assert.equal(viaFuse['etc/shadow'], describeTree(l1)['etc/shadow']);
      assert.match(viaFuse.owned ?? '', /^f 644 1234:5678 .* user\.note=kept$/);
      assert.match(viaFuse.null ?? '', /^c 666 0:0 259 /);
      assert.match(viaFuse.su ?? '', /^f 4755 /);
      assert.equal(viaFuse.link, 'l 777 0:0   ../etc/shadow');
      assert.throws(() => fs.writeFileSync(join(fuse, 'new'), 'x'), { code: 'EROFS' });
    } finally {
      assert.equal(mounter.unmount(fuse), true);
      assert.equal(mounter.unmount(kernel), true);
    }
    assert.equal(mounter.unmount(fuse), false, 'a second unmount finds nothing');
    assert.equal(mounter.isMounted(fuse), false);
  });

  test('writes through fuse-overlayfs commit to the kernel format: the kernel reads the layer the same', async () => {
    const base = tempRoot();
    fs.mkdirSync(join(base, 'empty'));
    fs.mkdirSync(join(base, 'unrelated'));
    const mounter = systemMounter({ emptyDir: join(base, 'empty') });
    // The base layer is written into its changeset directly, as an import does.
    const ctx = contextFor(base, mounter);
    const sn = openSnapshotter(ctx, fuseOverlayStorage({ root: join(base, 'snapshots') }));
    try {
      sn.prepare('a');
      fillL1(sn.changeset('a').dir);
      sn.commit('A', 'a');
      const upper = sn.changeset('A').dir;
      const target = join(base, 'mnt');
      fs.mkdirSync(target);
      mounter.mount(sn.prepare('w', 'A'), target);
      try {
        fs.rmSync(join(target, 'gone'));
        fs.rmSync(join(target, 'var', 'cache'), { recursive: true });
        fs.mkdirSync(join(target, 'var', 'cache'));
        fs.writeFileSync(join(target, 'var', 'cache', 'new'), 'new');
        fs.appendFileSync(join(target, 'owned'), 'y'); // a copy-up, which must keep owner and xattrs
        assert.equal(mounter.isInUse(sn.changeset('w').dir), true, 'the upper of a live fuse mount is in use');
        assert.equal(mounter.isInUse(upper), true, 'so is its lower');
        assert.equal(mounter.isInUse(join(base, 'unrelated')), false, 'a dir no mount names is not');
      } finally {
        mounter.unmount(target);
      }
      assert.equal(mounter.isInUse(sn.changeset('w').dir), false, 'after the unmount nothing uses it');
      assert.deepEqual(fuseOverlayDaemons().filter((d) => d.mountpoint.startsWith(base)), [], 'the daemon is gone once unmount returns');
      sn.commit('W', 'w');
      const w = sn.changeset('W').dir;
      const names: string[] = [];
      const walk = (d: string): void => { for (const n of fs.readdirSync(d)) { names.push(n); if (fs.lstatSync(join(d, n)).isDirectory()) walk(join(d, n)); } };
      walk(w);
      assert.deepEqual(names.filter((n) => n.startsWith('.wh.')), [], 'no fuse-overlayfs marker stays in a committed layer');
      assert.deepEqual(llistxattr(join(w, 'owned')).filter((n) => n.startsWith('user.fuseoverlayfs.')), [], 'nor its private xattrs');
      assert.equal(lgetxattr(join(w, 'var', 'cache'), 'trusted.overlay.opaque')?.toString(), 'y');
      assert.equal(fs.lstatSync(join(w, 'gone')).rdev, 0);
      assert.ok(fs.lstatSync(join(w, 'gone')).isCharacterDevice());
      // The same committed dirs through both mounts.
      const view = sn.view('v', 'W');
      const kernel = join(base, 'kernel');
      const fuse = join(base, 'fuse');
      fs.mkdirSync(kernel);
      fs.mkdirSync(fuse);
      const v = view[0] as Extract<Mount, { type: 'fuse-overlayfs' }>;
      mounter.mount([{ type: 'overlay', lowers: v.lowers }], kernel);
      mounter.mount(view, fuse);
      try {
        const t = describeTree(fuse);
        assert.deepEqual(t, describeTree(kernel));
        assert.equal(t.gone, undefined);
        assert.deepEqual(Object.keys(t).filter((p) => p.startsWith('var/cache/')), ['var/cache/new']);
        assert.match(t.owned ?? '', /^f 644 1234:5678 +2:.* user\.note=kept$/);
      } finally {
        mounter.unmount(fuse);
        mounter.unmount(kernel);
      }
    } finally {
      sn.close();
      ctx.db.close();
    }
  });

  test('a failed mount is MOUNT_FAILED with the program\'s words; a ":" path is UNSUPPORTED', () => {
    const base = tempRoot();
    fs.mkdirSync(join(base, 'empty'));
    fs.mkdirSync(join(base, 'm'));
    const mounter = systemMounter({ emptyDir: join(base, 'empty') });
    assert.throws(() => mounter.mount([{ type: 'fuse-overlayfs', program, lowers: [join(base, 'missing')] }], join(base, 'm')), (err: unknown) => {
      assert.ok(isShibafuError(err, 'MOUNT_FAILED'), String(err));
      assert.match(err.message, /cannot read lower dirs|No such file/);
      return true;
    });
    assert.throws(() => mounter.mount([{ type: 'fuse-overlayfs', program, lowers: [join(base, 'a:b')] }], join(base, 'm')), (e: unknown) => isShibafuError(e, 'UNSUPPORTED'));
    assert.equal(mounter.isMounted(join(base, 'm')), false);
  });
});
