/**
 * `container commit` of a container that does not run: its upper is moved into the layer and the
 * container is stacked on it (container-commit.ts). Real runc, real overlay, as root.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { basename, dirname, join } from 'node:path';
import { containerSkip, containerStore, isMounted } from './container-harness.js';
import { TEST_DRIVER, TEST_FORMAT } from './helpers/test-driver.js';
import { expandStack } from '../src/store/layer-mounts.js';
import { commitUpperByMove } from '../src/store/layer-from-upper.js';
import { containerSnapshot } from '../src/container/container-mount.js';
import { layerById, type LayerRow } from '../src/db/layer-queries.js';
import { containerByName } from '../src/db/container-queries.js';

interface ChangeJson { path: string; kind: string; oldType: string | null; newType: string | null; oldSize: number | null; newSize: number | null }
interface LayerJson { chainId: string; diffId: string; parent: string; names: string[]; existed: boolean; moved: boolean; path: string; stats: { files: number; whiteouts: number } }

/**
 * What a merged tree holds: type, mode, owner, size, mtime, content digest, link target; no inode
 * numbers. On a whole-tree driver, a container restacked on a layer stored before sees that
 * layer's tree: it was applied from its tar, whose times are whole seconds, and whose root has none.
 */
function mergedView(dir: string): Record<string, string> {
  const mtime = (rel: string, ms: number): number | string => (TEST_FORMAT === 'overlay' ? ms : rel === '' ? '' : Math.floor(ms / 1000));
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const abs = rel === '' ? dir : join(dir, rel);
    const st = fs.lstatSync(abs);
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : 'x';
    const extra = type === 'f' ? createHash('sha256').update(fs.readFileSync(abs)).digest('hex').slice(0, 16) : type === 'l' ? fs.readlinkSync(abs) : '';
    out[rel === '' ? '.' : rel] = [type, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`, type === 'd' ? '' : st.size, mtime(rel, st.mtimeMs), extra].join(' ');
    if (type === 'd') for (const name of fs.readdirSync(abs).sort()) walk(rel === '' ? name : `${rel}/${name}`);
  };
  walk('');
  return out;
}

/** Leaves a unix socket file at `path`, as a process that did not clean up does. */
async function listenAndClose(path: string): Promise<void> {
  const server = net.createServer();
  // A socket's path must fit in sun_path (108 bytes): bound relative to its directory.
  const cwd = process.cwd();
  process.chdir(dirname(path));
  try {
    await new Promise<void>((res) => server.listen(basename(path), res));
  } finally {
    process.chdir(cwd);
  }
  // close() unlinks the socket file: keep a hard link to it so that it stays.
  fs.linkSync(path, `${path}.kept`);
  await new Promise<void>((res) => server.close(() => res()));
  fs.renameSync(`${path}.kept`, path);
  assert.ok(fs.lstatSync(path).isSocket());
}

/** Edits of every kind: added (file, hard link, symlink, fifo, dir), changed, deleted (file, dir), an opaque dir. */
const EDITS = [
  'mkdir -p /data/sub', 'printf hello > /data/sub/f', 'ln /data/sub/f /data/hard', 'ln -s sub/f /data/link', 'mkfifo /data/fifo',
  'chmod 0600 /data/sub/f', 'printf abc > /etc/passwd', 'rm /etc/group', 'rm -rf /usr/bin',
  'rm -rf /home', 'mkdir /home', 'echo x > /home/only', 'chown 1000:50 /home/only',
].join('; ');

describe('container commit of a stopped container moves its upper', { skip: containerSkip }, () => {
  const cs = containerStore();

  const diffOf = async (name: string): Promise<ChangeJson[]> => {
    const r = await cs.cli(['container', 'diff', name, '--json']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as ChangeJson[];
  };

  test('same chainId as a copy of the upper; the container sees the same tree and lists the same changes', async () => {
    assert.equal((await cs.cli(['run', '--name', 'm', 'base', 'sh', '-c', EDITS])).status, 0);
    const { paths } = await cs.inspect('m');
    const before = { diff: await diffOf('m'), view: mergedView(paths.merged) };
    assert.ok(before.diff.length >= 10, JSON.stringify(before.diff));

    // The copy (what a running container gets), through the library: the reference.
    const store = cs.ts.reopen();
    const copied = await store.commitUpper({ upper: paths.upper, stack: expandStack(store.context, [store.resolve('base')]), name: 'copied' });
    store.close();

    const r = await cs.cli(['container', 'commit', 'm', 'moved', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const made = JSON.parse(r.stdout) as LayerJson;
    // The same content on the same parent: the stored copy is found, and named.
    assert.deepEqual([made.chainId, made.diffId, made.existed, made.moved], [copied.layer.chainId, copied.layer.diffId, true, true]);
    assert.deepEqual(made.names.sort(), ['copied', 'moved']);

    const after = await cs.inspect('m');
    assert.equal(after.mounted, true);
    assert.notEqual(after.paths.upper, paths.upper, 'a fresh snapshot takes the writes');
    // An overlay upper starts empty; a whole-tree driver's snapshot of the layer is its whole tree.
    if (TEST_FORMAT === 'overlay') assert.deepEqual(fs.readdirSync(after.paths.upper), []);
    assert.equal(fs.existsSync(paths.upper), false, 'the old one, whose content was stored already, is gone');
    assert.deepEqual(mergedView(paths.merged), before.view);
    assert.deepEqual(await diffOf('m'), before.diff);
    const stack = (JSON.parse((await cs.cli(['container', 'inspect', 'm'])).stdout) as Array<{ stack: { chainId: string; committed: boolean }[] }>)[0]!.stack;
    assert.deepEqual(stack.map((l) => [l.chainId === made.chainId, l.committed]), [[false, false], [true, true]]);
  });

  test('a new layer is the upper itself: its inodes, an export that hashes to its diffId; layer rm waits for the container', {
    skip: TEST_FORMAT === 'dir' && 'overlay uppers: a whole-tree driver commits its snapshot as it is (test/store-drivers.test.ts)',
  }, async () => {
    assert.equal((await cs.cli(['container', 'create', '--name', 'n', 'base', '/bin/true'])).status, 0);
    const { paths } = await cs.inspect('n');
    fs.writeFileSync(join(paths.merged, 'one'), 'one\n');
    fs.rmSync(join(paths.merged, 'etc/hostname'));
    // A socket left behind by a process: no layer holds one (the copy skips them; the move drops it).
    fs.mkdirSync(join(paths.merged, 'run'));
    await listenAndClose(join(paths.merged, 'run/app.sock'));
    const runMtime = fs.statSync(join(paths.upper, 'run'), { bigint: true }).mtimeNs;
    const ino = fs.statSync(join(paths.upper, 'one')).ino;

    const r = await cs.cli(['container', 'commit', 'n', 'n1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const made = JSON.parse(r.stdout) as LayerJson;
    assert.deepEqual([made.existed, made.moved, made.stats.files, made.stats.whiteouts], [false, true, 1, 1]);
    assert.equal(fs.statSync(join(made.path, 'one')).ino, ino);
    assert.deepEqual(fs.readdirSync(join(made.path, 'run')), []);
    assert.equal(fs.statSync(join(made.path, 'run'), { bigint: true }).mtimeNs, runMtime);
    // Whiteouts settled as a copy writes them: root-owned, mtime 0.
    const wh = fs.lstatSync(join(made.path, 'etc/hostname'));
    assert.deepEqual([wh.isCharacterDevice(), wh.rdev, wh.uid, wh.gid, wh.mtimeMs], [true, 0, 0, 0, 0]);

    const out = join(cs.ts.inputs, 'n1.tar');
    assert.equal((await cs.cli(['layer', 'export', 'n1', '-o', out])).status, 0);
    const tar = fs.readFileSync(out);
    assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, made.diffId);
    // Overlay's bookkeeping (origin, impure) stays in the moved dir but never reaches the layer's tar.
    // fuse-overlayfs's own (user.fuseoverlayfs.*) is settled away: an export would keep that namespace.
    const kept = execFileSync('getfattr', ['--absolute-names', '-d', '-m', '-', join(made.path, 'etc')], { encoding: 'utf8' });
    if (TEST_DRIVER === 'overlay') assert.match(kept, /trusted\.overlay\.origin/);
    assert.doesNotMatch(kept, /fuseoverlayfs/);
    assert.equal(tar.includes('trusted.overlay'), false);
    assert.equal((await cs.cli(['run', '--rm', 'n1', 'sh', '-c', 'cat /one; test -e /etc/hostname || echo gone'])).stdout, 'one\ngone\n');

    const rm = await cs.cli(['layer', 'rm', 'n1']);
    assert.equal(rm.status, 4);
    assert.match(rm.stderr, /^error\[LAYER_IN_USE\]/);
    assert.equal((await cs.cli(['container', 'rm', 'n'])).status, 0);
    assert.equal((await cs.cli(['layer', 'rm', 'n1'])).status, 0);
  });

  test('changes after a commit: diff lists all since creation, as one container that never committed; a second commit stacks on the first', async () => {
    for (const name of ['k', 'ref']) assert.equal((await cs.cli(['container', 'create', '--name', name, 'base', '/bin/true'])).status, 0);
    const k = (await cs.inspect('k')).paths;
    const ref = (await cs.inspect('ref')).paths;
    const first = (m: string): void => {
      fs.writeFileSync(join(m, 'one'), 'one\n');
      fs.writeFileSync(join(m, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
      fs.rmSync(join(m, 'etc/group'));
      fs.rmSync(join(m, 'home'), { recursive: true });
    };
    const second = (m: string): void => {
      fs.writeFileSync(join(m, 'two'), 'two!\n');
      fs.rmSync(join(m, 'one'));
      fs.writeFileSync(join(m, 'etc/group'), 'root:x:0:\n');
      fs.mkdirSync(join(m, 'home'));
      fs.writeFileSync(join(m, 'home/only'), 'x');
    };
    first(k.merged);
    const c1 = JSON.parse((await cs.cli(['container', 'commit', 'k', 'k1', '--json'])).stdout) as LayerJson;
    assert.equal(c1.moved, true);
    second(k.merged);
    first(ref.merged);
    second(ref.merged);
    const sizes = (changes: ChangeJson[]): string[] => changes.map((c) => `${c.kind} ${c.path} ${c.oldType}->${c.newType} ${c.oldSize}->${c.newSize}`);
    const expected = sizes(await diffOf('ref'));
    assert.deepEqual(expected.filter((l) => /\/(home|one|two)\b/.test(l)), [
      'C /home dir->dir 0->0', 'D /home/app dir->null 0->null', 'A /home/only null->file null->1', 'A /two null->file null->5',
    ]);
    assert.deepEqual(sizes(await diffOf('k')), expected);

    const c2 = JSON.parse((await cs.cli(['container', 'commit', 'k', 'k2', '--json'])).stdout) as LayerJson;
    assert.deepEqual([c2.moved, c2.parent], [true, c1.chainId]);
    assert.deepEqual(sizes(await diffOf('k')), expected);
    const seen = await cs.cli(['run', '--rm', 'k2', 'sh', '-c', 'cat /two /etc/group /home/only; ls /home; test -e /one || echo no-one']);
    assert.equal(seen.stdout, 'two!\nroot:x:0:\nxonly\nno-one\n');
    assert.equal((await cs.cli(['container', 'rm', 'k', 'ref'])).status, 0);
  });

  test('a container whose root is held open is copied instead, and keeps its upper', async () => {
    assert.equal((await cs.cli(['container', 'create', '--name', 'busy', 'base', '/bin/true'])).status, 0);
    const { paths } = await cs.inspect('busy');
    fs.writeFileSync(join(paths.merged, 'kept'), 'kept');
    const holder = spawn('sleep', ['60'], { cwd: join(paths.merged, 'etc'), stdio: 'ignore' });
    try {
      const r = await cs.cli(['container', 'commit', 'busy', 'busy1', '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as LayerJson).moved, false);
      if (TEST_FORMAT === 'overlay') assert.deepEqual(fs.readdirSync(paths.upper), ['kept']);
      else assert.equal(fs.readFileSync(join(paths.upper, 'kept'), 'utf8'), 'kept');
      assert.equal(isMounted(paths.merged), true);
    } finally {
      holder.kill('SIGKILL');
    }
    assert.equal((await cs.cli(['container', 'rm', 'busy'])).status, 0);
  });

  test('a move whose transaction fails puts the upper back; nothing is left in tmp/ or layers/', async () => {
    assert.equal((await cs.cli(['container', 'create', '--name', 'fail', 'base', '/bin/true'])).status, 0);
    const { paths } = await cs.inspect('fail');
    fs.writeFileSync(join(paths.merged, 'precious'), 'precious');
    execFileSync('umount', [paths.merged]);
    const store = cs.ts.reopen();
    try {
      const layersBefore = fs.readdirSync(store.context.layout.layers).sort();
      const row = containerByName(store.context.db, 'fail')!;
      const stack = row.layerIds.map((id) => layerById(store.context.db, id)) as LayerRow[];
      assert.throws(() => commitUpperByMove(store.context, {
        snapshot: containerSnapshot(row.id), stack, name: 'never', rebase: () => { throw new Error('injected failure'); },
      }), /injected failure/);
      assert.equal(fs.readFileSync(join(paths.upper, 'precious'), 'utf8'), 'precious');
      assert.deepEqual(fs.readdirSync(store.context.layout.layers).sort(), layersBefore);
      assert.deepEqual(fs.readdirSync(store.context.layout.tmp), []);
      assert.equal(store.context.db.read(() => containerByName(store.context.db, 'fail')!.layerIds.length), 1);
    } finally {
      store.close();
    }
    assert.equal((await cs.cli(['container', 'rm', 'fail'])).status, 0);
  });

  for (const state of ['layer dir without its row', 'throw-away snapshot of stored content'] as const) {
    test(`a commit killed after its snapshot changes (${state}): the next open removes what it left, the container keeps its changes`, async () => {
      const name = `crash-${state.length}`;
      assert.equal((await cs.cli(['container', 'create', '--name', name, 'base', '/bin/true'])).status, 0);
      const { id, paths } = await cs.inspect(name);
      fs.writeFileSync(join(paths.merged, 'precious'), 'precious');
      execFileSync('umount', [paths.merged]);
      // What commitUpperByMove can leave outside the database when killed (see undoUpperMove):
      // one transaction did the rest, or none of it.
      const hex = 'e'.repeat(63) + String(state.length % 10);
      const token = hex.slice(0, 16);
      const stage = join(cs.ts.root, 'tmp', `commit-${token}`);
      const layerDir = join(cs.ts.root, 'layers', hex);
      const discard = `discard-${token}`;
      if (state === 'layer dir without its row') {
        fs.mkdirSync(layerDir);
      } else {
        const store = cs.ts.reopen();
        try {
          store.context.snapshots.prepare(`leftover-${token}`);
          store.context.snapshots.commit(discard, `leftover-${token}`);
        } finally {
          store.close();
        }
      }
      // Made after the store was last opened (an open sweeps a staging dir nobody holds).
      fs.mkdirSync(stage, { recursive: true });
      fs.writeFileSync(join(stage, 'intent.json'), JSON.stringify({ kind: 'commit', target: layerDir, chainId: `sha256:${hex}`, snapshot: containerSnapshot(id), discard }));

      const diff = await cs.cli(['container', 'diff', name]);
      assert.equal(diff.status, 0, diff.stderr);
      assert.match(diff.stdout, /^A \/precious/m);
      assert.equal(fs.existsSync(layerDir), false);
      assert.deepEqual(fs.readdirSync(join(cs.ts.root, 'tmp')), []);
      const store = cs.ts.reopen();
      try {
        assert.throws(() => store.context.snapshots.stat(discard), { code: 'SNAPSHOT_NOT_FOUND' });
        assert.equal(fs.readFileSync(join(store.context.snapshots.changeset(containerSnapshot(id)).dir, 'precious'), 'utf8'), 'precious');
      } finally {
        store.close();
      }
      assert.equal((await cs.cli(['container', 'start', '-a', name])).status, 0);
      assert.equal((await cs.cli(['container', 'rm', name])).status, 0);
    });
  }
});
