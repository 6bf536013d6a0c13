/**
 * The snapshotter contract: the same cases against every driver (fake, overlay, btrfs,
 * fuse-overlayfs, zfs), as containerd's snapshotter test suite runs against each of its
 * snapshotters. A driver's test file calls `snapshotterContract(harness)`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isShibafuError, type ErrorCode } from '../../src/errors.js';
import { openSnapshotter } from '../../src/snapshots/meta-snapshotter.js';
import type { Mount } from '../../src/snapshots/mount.js';
import type { Snapshotter } from '../../src/snapshots/snapshotter.js';
import { contextFor, openStorage, type ContractHarness, type DriverFixture } from './driver-fixture.js';

const CRASH_CHILD = join(fileURLToPath(new URL('.', import.meta.url)), 'crash-child.js');

interface Open {
  readonly fx: DriverFixture;
  readonly sn: Snapshotter;
  /** Whether the driver's views have objects of their own (SnapshotStorage.viewObjects). */
  readonly viewObjects: boolean;
  close(): void;
}

async function open(fx: DriverFixture): Promise<Open> {
  const ctx = contextFor(fx.root, fx.mountTable);
  const storage = await openStorage(fx.spec);
  const sn = openSnapshotter(ctx, storage);
  return { fx, sn, viewObjects: storage.viewObjects, close: () => { sn.close(); ctx.db.close(); } };
}

/** Mounts at a fresh dir under the root, runs fn on the mounted tree, unmounts. */
function withMounted<T>(o: Open, mounts: readonly Mount[], fn: (dir: string) => T): T {
  const target = fs.mkdtempSync(join(o.fx.root, 'mnt-'));
  o.fx.mounter.mount(mounts, target);
  try {
    return fn(target);
  } finally {
    o.fx.mounter.unmount(target);
    fs.rmdirSync(target);
  }
}

/** The tree under dir: path -> "type mode [content]", the mount point itself left out. */
function treeOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(join(dir, rel)).sort()) {
      if (rel === '' && name === 'lost+found') continue;
      const p = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(join(dir, p));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) { out[p] = `dir ${mode}`; walk(p); }
      else if (st.isSymbolicLink()) out[p] = `link ${fs.readlinkSync(join(dir, p))}`;
      else out[p] = `file ${mode} ${fs.readFileSync(join(dir, p), 'utf8')}`;
    }
  };
  walk('');
  return out;
}

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => isShibafuError(err, code) || assert.fail(`expected ${code}, got ${String((err as Error)?.stack ?? err)}`));
}

function names(sn: Snapshotter): string[] {
  const out: string[] = [];
  sn.walk((i) => out.push(`${i.name}:${i.kind}:${i.parent ?? '-'}`));
  return out.sort();
}

/** Two committed layers: c1 = {a (0640 "one"), d/ (0750), d/x "x"}, c2 on c1 = {-a, b "two", d/x "x2", l -> b}. */
function twoLayers(o: Open): void {
  const { sn } = o;
  withMounted(o, sn.prepare('p1'), (dir) => {
    fs.writeFileSync(join(dir, 'a'), 'one', { mode: 0o640 });
    fs.chmodSync(join(dir, 'a'), 0o640);
    fs.mkdirSync(join(dir, 'd'), 0o750);
    fs.chmodSync(join(dir, 'd'), 0o750);
    fs.writeFileSync(join(dir, 'd', 'x'), 'x');
    fs.chmodSync(join(dir, 'd', 'x'), 0o644);
  });
  sn.commit('c1', 'p1');
  withMounted(o, sn.prepare('p2', 'c1'), (dir) => {
    assert.equal(fs.readFileSync(join(dir, 'a'), 'utf8'), 'one', 'the child sees its parent');
    fs.rmSync(join(dir, 'a'));
    fs.writeFileSync(join(dir, 'b'), 'two');
    fs.chmodSync(join(dir, 'b'), 0o600);
    fs.writeFileSync(join(dir, 'd', 'x'), 'x2');
    fs.symlinkSync('b', join(dir, 'l'));
  });
  sn.commit('c2', 'p2');
}

const C1_TREE = { a: 'file 640 one', d: 'dir 750', 'd/x': 'file 644 x' };
const C2_TREE = { b: 'file 600 two', d: 'dir 750', 'd/x': 'file 644 x2', l: 'link b' };

export function snapshotterContract(h: ContractHarness): void {
  describe(`snapshotter contract: ${h.driver}`, { skip: h.skip }, () => {
    test('prepare, write, commit: the key becomes a committed name', async () => {
      const fx = h.setup();
      const o = await open(fx);
      try {
        const mounts = o.sn.prepare('k');
        assert.deepEqual(o.sn.mounts('k'), mounts, 'mounts(key) gives what prepare gave');
        assert.equal(o.sn.stat('k').kind, 'active');
        assert.equal(o.sn.stat('k').parent, null);
        withMounted(o, mounts, (dir) => fs.writeFileSync(join(dir, 'f'), 'hello'));
        const info = o.sn.commit('c', 'k', { labels: { role: 'base' } });
        assert.equal(info.kind, 'committed');
        assert.deepEqual(info.labels, { role: 'base' });
        assertCode(() => o.sn.stat('k'), 'SNAPSHOT_NOT_FOUND');
        withMounted(o, o.sn.view('v', 'c'), (dir) => assert.deepEqual(treeOf(dir), { f: 'file 644 hello' }));
      } finally { o.close(); fx.cleanup(); }
    });

    test('a child sees its parent, with its own changes and deletions', async () => {
      const fx = h.setup();
      const o = await open(fx);
      try {
        twoLayers(o);
        withMounted(o, o.sn.view('v1', 'c1'), (dir) => assert.deepEqual(treeOf(dir), C1_TREE));
        withMounted(o, o.sn.view('v2', 'c2'), (dir) => assert.deepEqual(treeOf(dir), C2_TREE));
        assert.deepEqual(names(o.sn), ['c1:committed:-', 'c2:committed:c1', 'v1:view:c1', 'v2:view:c2']);
        assert.deepEqual(o.sn.stat('c2').parents, ['c1']);
        const cs = o.sn.changeset('c2');
        assert.equal(cs.format, o.sn.capabilities.format);
        assert.ok(fs.statSync(cs.dir).isDirectory());
      } finally { o.close(); fx.cleanup(); }
    });

    test('views are read-only where the driver enforces it, and can never be committed', async () => {
      const fx = h.setup();
      const o = await open(fx);
      try {
        twoLayers(o);
        const mounts = o.sn.view('v', 'c2');
        if (o.sn.capabilities.readonlyViews) {
          withMounted(o, mounts, (dir) => assert.throws(() => fs.writeFileSync(join(dir, 'new'), 'x'), { code: 'EROFS' }));
        }
        assertCode(() => o.sn.commit('c3', 'v'), 'SNAPSHOT_STATE');
        assertCode(() => o.sn.view('v-none', 'missing'), 'SNAPSHOT_NOT_FOUND');
      } finally { o.close(); fx.cleanup(); }
    });

    test('keys and names are used once; parents must be committed', async () => {
      const fx = h.setup();
      const o = await open(fx);
      try {
        twoLayers(o);
        o.sn.prepare('a', 'c2');
        assertCode(() => o.sn.prepare('a', 'c1'), 'SNAPSHOT_EXISTS');
        assertCode(() => o.sn.prepare('c1'), 'SNAPSHOT_EXISTS');
        assertCode(() => o.sn.prepare('b', 'a'), 'SNAPSHOT_STATE');
        assertCode(() => o.sn.prepare('b', 'nope'), 'SNAPSHOT_NOT_FOUND');
        assertCode(() => o.sn.commit('c1', 'a'), 'SNAPSHOT_EXISTS');
        assert.equal(o.sn.stat('a').kind, 'active', 'a refused commit leaves the snapshot active');
        assertCode(() => o.sn.commit('c9', 'c2'), 'SNAPSHOT_STATE');
        assertCode(() => o.sn.commit('c9', 'missing'), 'SNAPSHOT_NOT_FOUND');
        assertCode(() => o.sn.remove('missing'), 'SNAPSHOT_NOT_FOUND');
      } finally { o.close(); fx.cleanup(); }
    });

    test('remove refuses a parent and a mounted snapshot, then leaves nothing behind', async () => {
      const fx = h.setup();
      const o = await open(fx);
      try {
        twoLayers(o);
        assertCode(() => o.sn.remove('c1'), 'SNAPSHOT_IN_USE');
        const mounts = o.sn.prepare('active', 'c2');
        withMounted(o, mounts, () => assertCode(() => o.sn.remove('active'), 'SNAPSHOT_IN_USE'));
        o.sn.remove('active');
        assertCode(() => o.sn.remove('c1'), 'SNAPSHOT_IN_USE');
        o.sn.remove('c2');
        o.sn.remove('c1');
        assert.deepEqual(names(o.sn), []);
        assert.deepEqual(fx.listObjects(), [], 'no object of a removed snapshot stays');
        assert.deepEqual(fs.readdirSync(join(fx.root, 'tmp')), [], 'no staging dir stays');
      } finally { o.close(); fx.cleanup(); }
    });

    test('a view: its parents stay in use while it exists or is mounted; removed, it leaves nothing', async () => {
      const fx = h.setup();
      const o = await open(fx);
      try {
        twoLayers(o);
        const before = fx.listObjects();
        const mounts = o.sn.view('v', 'c2');
        assert.deepEqual(fx.listObjects().length, before.length + (o.viewObjects ? 1 : 0), 'a view has an object exactly where the driver says so');
        assert.deepEqual(fs.readdirSync(join(fx.root, 'tmp')), [], 'no staging dir stays');
        assertCode(() => o.sn.remove('c2'), 'SNAPSHOT_IN_USE');
        withMounted(o, mounts, (dir) => {
          assert.deepEqual(treeOf(dir), C2_TREE);
          if (o.viewObjects) {
            assertCode(() => o.sn.remove('v'), 'SNAPSHOT_IN_USE');
          } else {
            // Only its row: its mount holds its parents' dirs, whose removal sees the mount.
            o.sn.remove('v');
            assertCode(() => o.sn.remove('c2'), 'SNAPSHOT_IN_USE');
          }
        });
        if (o.viewObjects) o.sn.remove('v');
        assertCode(() => o.sn.stat('v'), 'SNAPSHOT_NOT_FOUND');
        assert.deepEqual(fx.listObjects(), before, 'nothing of the view stays');
        assert.deepEqual(fs.readdirSync(join(fx.root, 'tmp')), [], 'no staging dir stays');
        o.sn.remove('c2');
      } finally { o.close(); fx.cleanup(); }
    });

    test('usage counts what the snapshot holds', async () => {
      const fx = h.setup();
      const o = await open(fx);
      try {
        withMounted(o, o.sn.prepare('u'), (dir) => {
          for (let i = 0; i < 4; i++) fs.writeFileSync(join(dir, `f${i}`), Buffer.alloc(256 * 1024, i + 1));
        });
        const u = o.sn.usage('u');
        assert.ok(u.size >= 1024 * 1024, `size ${u.size} holds the 1 MiB written`);
        assert.ok(u.size < 8 * 1024 * 1024, `size ${u.size} is not wildly more`);
        assert.ok(u.inodes >= 5 && u.inodes < 64, `inodes ${u.inodes}`);
        o.sn.commit('uc', 'u');
        assert.ok(o.sn.usage('uc').size >= 1024 * 1024);
      } finally { o.close(); fx.cleanup(); }
    });

    test('several unrelated chains stack where the driver can, and are refused clearly where not', async () => {
      const fx = h.setup();
      const o = await open(fx);
      try {
        withMounted(o, o.sn.prepare('x'), (dir) => fs.writeFileSync(join(dir, 'x'), 'x'));
        o.sn.commit('cx', 'x');
        withMounted(o, o.sn.prepare('y'), (dir) => fs.writeFileSync(join(dir, 'y'), 'y'));
        o.sn.commit('cy', 'y');
        if (o.sn.capabilities.stacksChains) {
          withMounted(o, o.sn.view('xy', ['cx', 'cy']), (dir) => assert.deepEqual(treeOf(dir), { x: 'file 644 x', y: 'file 644 y' }));
          assert.deepEqual(o.sn.stat('xy').parents, ['cx', 'cy']);
          assertCode(() => o.sn.remove('cx'), 'SNAPSHOT_IN_USE');
        } else {
          assertCode(() => o.sn.prepare('xy', ['cx', 'cy']), 'UNSUPPORTED');
        }
      } finally { o.close(); fx.cleanup(); }
    });

    describe('a crash at each step of a change leaves the state before or after it', () => {
      const cases: { op: [string, ...string[]]; points: string[]; before: string[]; after: string[] }[] = [
        { op: ['prepare', 'n', 'c1'], points: ['prepare:recorded', 'prepare:built', 'prepare:inserted', 'prepare:published'], before: ['c1:committed:-'], after: ['c1:committed:-', 'n:active:c1'] },
        // A view without an object is one transaction: view:inserted is its only step.
        { op: ['view', 'n', 'c1'], points: ['view:recorded', 'view:built', 'view:inserted', 'view:published'], before: ['c1:committed:-'], after: ['c1:committed:-', 'n:view:c1'] },
        { op: ['commit', 'c2', 'a'], points: ['commit:recorded', 'commit:sealed', 'commit:committed'], before: ['a:active:c1', 'c1:committed:-'], after: ['c1:committed:-', 'c2:committed:c1'] },
        { op: ['remove', 'a'], points: ['remove:recorded', 'remove:deleted', 'remove:destroyed'], before: ['a:active:c1', 'c1:committed:-'], after: ['c1:committed:-'] },
      ];
      for (const c of cases) {
        for (const point of c.points) {
          test(`${c.op[0]} killed at ${point}`, async (t) => {
            const fx = h.setup();
            try {
              let o = await open(fx);
              if (c.op[0] === 'view' && !o.viewObjects && point !== 'view:inserted') {
                o.close();
                t.skip(`the ${h.driver} driver's views have no object: a view is made in one transaction, with no ${point} step`);
                return;
              }
              withMounted(o, o.sn.prepare('p1'), (dir) => fs.writeFileSync(join(dir, 'base'), 'base'));
              o.sn.commit('c1', 'p1');
              if (c.op[0] === 'commit' || c.op[0] === 'remove') {
                withMounted(o, o.sn.prepare('a', 'c1'), (dir) => fs.writeFileSync(join(dir, 'mine'), 'mine'));
              }
              o.close();
              const r = spawnSync(process.execPath, [CRASH_CHILD, JSON.stringify({ spec: fx.spec, root: fx.root, point, op: c.op })], { encoding: 'utf8' });
              assert.equal(r.signal, 'SIGKILL', `the child reached ${point} (status ${r.status}, stderr ${r.stderr})`);
              o = await open(fx);
              try {
                const state = names(o.sn);
                assert.ok(
                  JSON.stringify(state) === JSON.stringify(c.before) || JSON.stringify(state) === JSON.stringify(c.after),
                  `state after the sweep: ${JSON.stringify(state)}`,
                );
                const withObjects = state.filter((s) => o.viewObjects || !s.includes(':view:'));
                assert.equal(fx.listObjects().length, withObjects.length, `objects on disk ${JSON.stringify(fx.listObjects())} match the snapshots ${JSON.stringify(state)}`);
                assert.deepEqual(fs.readdirSync(join(fx.root, 'tmp')), [], 'the sweep left no staging dir');
                // Whichever state it is, it works: the data is there and the next change goes through.
                withMounted(o, o.sn.view('check', 'c1'), (dir) => assert.equal(fs.readFileSync(join(dir, 'base'), 'utf8'), 'base'));
                if (state.includes('a:active:c1')) {
                  withMounted(o, o.sn.mounts('a'), (dir) => assert.equal(fs.readFileSync(join(dir, 'mine'), 'utf8'), 'mine'));
                  o.sn.commit('c3', 'a');
                }
                if (state.includes('c2:committed:c1')) {
                  withMounted(o, o.sn.view('check2', 'c2'), (dir) => assert.equal(fs.readFileSync(join(dir, 'mine'), 'utf8'), 'mine'));
                }
                if (state.includes('n:active:c1') || state.includes('n:view:c1')) o.sn.remove('n');
                else o.sn.prepare('n', 'c1');
              } finally { o.close(); }
            } finally { fx.cleanup(); }
          });
        }
      }
    });
  });
}
