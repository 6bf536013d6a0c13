/**
 * Container lifecycle (issue 3, point 2): --rm cleanup, volumes, removing a running container,
 * containers that died or lost their mount behind shibafu's back, two containers on one stack,
 * detached runs and their logs, and layers pinned by containers. Real runc and overlay, as root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { collect } from './helpers/cli.js';
import { containerSkip, containerStore, isMounted, parentPid, until, waitForOutput } from './container-harness.js';
import { TEST_DRIVER, TEST_FORMAT } from './helpers/test-driver.js';

const skip = containerSkip;

/** Mount options of the overlay at `path` (super options, from mountinfo), or null. */
function superOptions(path: string): string | null {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === path) return f[f.indexOf('-') + 3] ?? '';
  }
  return null;
}

/**
 * Whether the mount at `path` skips syncs: overlay's `volatile` (kernels before 6.x print
 * "volatile", newer ones "fsync=volatile"), fuse-overlayfs's option on its daemon's command line.
 * btrfs and zfs have no such mount: their writable tree is a snapshot, and nothing there is synced.
 */
function skipsSyncs(path: string): boolean | null {
  switch (TEST_DRIVER) {
    case 'overlay':
      return /(^|,)(fsync=)?volatile(,|$)/.test(superOptions(path) ?? '');
    case 'fuse-overlayfs':
      return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((pid) => {
        try {
          const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          return argv[0]?.endsWith('fuse-overlayfs') === true && argv.includes(path) && /(^|,)volatile(,|$)/.test(argv[argv.indexOf('-o') + 1] ?? '');
        } catch {
          return false;
        }
      });
    default:
      return null;
  }
}

describe('--rm and removal', { skip }, () => {
  const cs = containerStore();

  test('--rm leaves no row, no directory, no mount, no runtime state; its upper was volatile', async () => {
    // The container waits for the test's go-ahead (a file on a volume): no timing assumption.
    const ctl = join(cs.ts.inputs, 'ctl-tmp1');
    mkdirSync(ctl);
    const child = cs.start(['run', '--rm', '--name', 'tmp1', '-v', `${ctl}:/ctl`, 'base', 'sh', '-c',
      'echo data > /file; echo ready; while [ ! -e /ctl/go ]; do sleep 0.05; done']);
    const ready = waitForOutput(child, 'ready\n');
    const done = collect(child);
    let v;
    try {
      await ready;
      v = await cs.inspect('tmp1');
      assert.notEqual(skipsSyncs(v.paths.merged), false, 'a --rm upper skips syncs');
      assert.equal(readFileSync(join(v.paths.upper, 'file'), 'utf8'), 'data\n');
    } finally {
      writeFileSync(join(ctl, 'go'), '');
    }
    assert.equal((await done).status, 0);
    const inspect = await cs.cli(['container', 'inspect', 'tmp1']);
    assert.equal(inspect.status, 3);
    assert.match(inspect.stderr, /^error\[CONTAINER_NOT_FOUND\]/);
    assert.equal(existsSync(v.paths.dir), false);
    assert.equal(isMounted(v.paths.merged), false);
    assert.deepEqual(readdirSync(join(cs.ts.root, 'runtime')), []);
    assert.deepEqual(readdirSync(join(cs.ts.root, 'tmp')), []);
  });

  test('a container without --rm keeps its upper, not volatile, until rm', async () => {
    const r = await cs.cli(['run', '--name', 'keep', 'base', 'sh', '-c', 'echo kept > /file']);
    assert.equal(r.status, 0, r.stderr);
    const v = await cs.inspect('keep');
    assert.equal(v.state, 'exited');
    assert.equal(v.exitStatus, 0);
    assert.equal(v.mounted, true);
    assert.notEqual(skipsSyncs(v.paths.merged), true);
    assert.equal(readFileSync(join(v.paths.upper, 'file'), 'utf8'), 'kept\n');
    const rm = await cs.cli(['container', 'rm', 'keep']);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(existsSync(v.paths.dir), false);
    assert.equal(isMounted(v.paths.merged), false);
  });

  test('rm of a running container is refused; rm -f kills and removes it', async () => {
    const run = await cs.cli(['run', '-d', '--name', 'busy', 'base', 'sleep', '1000']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^[0-9a-f]{64}\n$/);
    const v = await cs.inspect('busy');
    assert.equal(v.state, 'running');
    const refused = await cs.cli(['container', 'rm', 'busy']);
    assert.equal(refused.status, 4);
    assert.match(refused.stderr, /^error\[CONTAINER_IN_USE\]: Cannot remove container "busy": it is running\nhint: .*rm -f busy/);
    const rm = await cs.cli(['container', 'rm', '-f', 'busy']);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(existsSync(`/proc/${v.pid}`), false, 'the process is gone');
    assert.equal(existsSync(v.paths.dir), false);
    assert.equal(isMounted(v.paths.merged), false);
    assert.equal(existsSync(join(cs.ts.root, 'runtime', v.id)), false);
  });

  test('run -d --rm removes itself when it ends', async () => {
    const run = await cs.cli(['run', '-d', '--rm', '--name', 'self-clean', 'base', 'sh', '-c', 'sleep 0.3']);
    assert.equal(run.status, 0, run.stderr);
    const dir = join(cs.ts.root, 'containers', run.stdout.trim());
    await until(() => !existsSync(dir), 15_000, 'the container to remove itself');
    assert.equal((await cs.cli(['container', 'inspect', 'self-clean'])).status, 3);
  });
});

describe('state reconciled with reality', { skip }, () => {
  const cs = containerStore();

  test('killed behind shibafu\'s back: the monitor records 137', async () => {
    await cs.cli(['run', '-d', '--name', 'victim', 'base', 'sleep', '1000']);
    const v = await cs.inspect('victim');
    process.kill(v.pid as number, 'SIGKILL');
    await until(async () => (await cs.inspect('victim')).state === 'exited', 10_000, 'exited');
    const after = await cs.inspect('victim');
    assert.equal(after.exitStatus, 137);
    const ps = await cs.cli(['ps', '-a']);
    assert.match(ps.stdout, /\nvictim +[0-9a-f]{12} +exited +base +sleep 1000 +.* ago +Exited \(137\) .* ago\n/);
    const rm = await cs.cli(['container', 'rm', 'victim']);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(existsSync(after.paths.dir), false);
  });

  test('the monitor, the runtime and the container all killed: exited, status unknown; rm still cleans', async () => {
    await cs.cli(['run', '-d', '--name', 'orphan', 'base', 'sleep', '1000']);
    const v = await cs.inspect('orphan');
    const runtime = parentPid(v.pid as number);
    const monitor = parentPid(runtime);
    for (const pid of [monitor, runtime, v.pid as number]) process.kill(pid, 'SIGKILL');
    await until(() => !existsSync(`/proc/${v.pid}`), 5000, 'the processes to die');
    const after = await cs.inspect('orphan');
    assert.equal(after.state, 'exited');
    assert.equal(after.exitStatus, null);
    const ps = await cs.cli(['ps', '-a']);
    assert.match(ps.stdout, /\norphan +.* Exited \(unknown\) .* ago\n/);
    assert.equal(existsSync(join(cs.ts.root, 'runtime', v.id)), true, 'the runtime kept its state');
    const rm = await cs.cli(['container', 'rm', 'orphan']);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(existsSync(join(cs.ts.root, 'runtime', v.id)), false);
    assert.equal(existsSync(v.paths.dir), false);
  });

  test('a vanished mount (reboot, umount) is shown; start mounts it again with the upper intact; rm cleans', async () => {
    await cs.cli(['run', '--name', 'lost', 'base', 'sh', '-c', 'echo before > /mark']);
    const v = await cs.inspect('lost');
    execFileSync('umount', [v.paths.merged]);
    assert.equal((await cs.inspect('lost')).mounted, false);
    assert.match((await cs.cli(['ps', '-a'])).stdout, /\nlost +.*Exited \(0\) .* ago, not mounted\n/);
    const again = await cs.cli(['container', 'start', '-a', 'lost']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal((await cs.inspect('lost')).mounted, true);
    execFileSync('umount', [v.paths.merged]);
    const rm = await cs.cli(['container', 'rm', 'lost']);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(existsSync(v.paths.dir), false);
  });
});

describe('stacks, uppers and layers', { skip }, () => {
  const cs = containerStore();

  test('two containers on one stack at once: isolated uppers, the layer untouched', async () => {
    for (const [name, word] of [['one', 'first'], ['two', 'second']] as const) {
      const r = await cs.cli(['run', '-d', '--name', name, 'base', 'sh', '-c', `echo ${word} > /data; rm /etc/hostname; sleep 1000`]);
      assert.equal(r.status, 0, r.stderr);
    }
    const [one, two] = [await cs.inspect('one'), await cs.inspect('two')];
    assert.equal(one.state, 'running');
    assert.equal(two.state, 'running');
    await until(() => existsSync(join(one.paths.upper, 'data')) && existsSync(join(two.paths.upper, 'data')), 5000, 'the writes');
    assert.equal(readFileSync(join(one.paths.upper, 'data'), 'utf8'), 'first\n');
    assert.equal(readFileSync(join(two.paths.upper, 'data'), 'utf8'), 'second\n');
    assert.equal(readFileSync(join(one.paths.merged, 'data'), 'utf8'), 'first\n');
    if (TEST_FORMAT === 'overlay') {
      // A deletion is a whiteout (a 0/0 character device) in the upper; the layer keeps the file.
      const whiteout = lstatSync(join(one.paths.upper, 'etc/hostname'));
      assert.equal(whiteout.isCharacterDevice(), true);
      assert.equal(whiteout.rdev, 0);
    } else {
      // A whole-tree snapshot: the file is gone from it, and only from it.
      assert.equal(existsSync(join(one.paths.upper, 'etc/hostname')), false);
    }
    const fresh = await cs.cli(['run', '--rm', 'base', 'sh', '-c', 'cat /data 2>/dev/null || echo no-data; cat /etc/hostname']);
    assert.equal(fresh.stdout, 'no-data\nshibafu\n');
    const ps = await cs.cli(['ps']);
    assert.match(ps.stdout, /^NAME +ID +STATE +STACK +COMMAND +CREATED +STATUS\n/);
    assert.match(ps.stdout, /\none +[0-9a-f]{12} +running +base +sh -c "echo first.*Up /);
    assert.equal((await cs.cli(['container', 'rm', '-f', 'one', 'two'])).status, 0);
  });

  test('a layer used by a container, running or not, cannot be removed', async () => {
    const tree = join(cs.ts.inputs, 'tools');
    mkdirSync(join(tree, 'opt'), { recursive: true });
    writeFileSync(join(tree, 'opt/tool'), 'tool\n');
    assert.equal((await cs.cli(['layer', 'create', 'tools', '--from-dir', tree, '--parent', 'base'])).status, 0);
    assert.equal((await cs.cli(['container', 'create', '--name', 'user-1', 'tools', 'cat', '/opt/tool'])).status, 0);
    const refused = await cs.cli(['layer', 'rm', 'tools']);
    assert.equal(refused.status, 4);
    assert.match(refused.stderr, /^error\[LAYER_IN_USE\]: Cannot remove layer "tools": 1 container uses it \(user-1\)\nhint: Remove the container first: shibafu container rm user-1\n/);
    const start = await cs.cli(['container', 'start', '-a', 'user-1']);
    assert.equal(start.stdout, 'tool\n');
    assert.equal((await cs.cli(['layer', 'rm', 'tools'])).status, 4, 'still refused once it has run');
    assert.equal((await cs.cli(['container', 'rm', 'user-1'])).status, 0);
    const rm = await cs.cli(['layer', 'rm', 'tools']);
    assert.equal(rm.status, 0, rm.stderr);
  });

  test('a stopped container restarts with its upper: changes survive between runs', async () => {
    assert.equal((await cs.cli(['run', '--name', 'counter', 'base', 'sh', '-c', 'echo x >> /count; wc -l < /count'])).stdout, '1\n');
    const again = await cs.cli(['container', 'start', '-a', 'counter']);
    assert.equal(again.stdout, '2\n');
    const busy = await cs.cli(['run', '--name', 'counter', 'base', 'true']);
    assert.equal(busy.status, 125);
    assert.match(busy.stderr, /^error\[NAME_IN_USE\]: Cannot create container "counter"/);
    await cs.cli(['container', 'rm', 'counter']);
  });
});

describe('volumes, read-only root, detached output', { skip }, () => {
  const cs = containerStore();

  test('-v HOST:DIR is read-write, -v HOST:DIR:ro read-only', async () => {
    const rw = join(cs.ts.inputs, 'rw');
    const ro = join(cs.ts.inputs, 'ro');
    mkdirSync(rw);
    mkdirSync(ro);
    writeFileSync(join(ro, 'in'), 'from host\n');
    const r = await cs.cli(['run', '--rm', '-v', `${rw}:/out`, '-v', `${ro}:/in:ro`, 'base', 'sh', '-c',
      'cat /in/in; echo written > /out/result; echo x > /in/nope 2>/dev/null && echo ro-broken || echo ro-ok']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'from host\nro-ok\n');
    assert.equal(readFileSync(join(rw, 'result'), 'utf8'), 'written\n');
    assert.equal(existsSync(join(ro, 'nope')), false);
  });

  test('a missing volume source is refused before anything is made', async () => {
    const r = await cs.cli(['run', '--rm', '-v', '/no/such/dir:/x', 'base', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /^error\[SOURCE_NOT_FOUND\]: Cannot mount volume \/no\/such\/dir:\/x/);
    assert.deepEqual(readdirSync(join(cs.ts.root, 'containers')), []);
  });

  test('--read-only: the root refuses writes, /tmp is a writable tmpfs', async () => {
    const r = await cs.cli(['run', '--rm', '--read-only', 'base', 'sh', '-c', 'touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/y && echo tmp-ok']);
    assert.equal(r.stdout, 'ro\ntmp-ok\n');
  });

  test('--network none: loopback only; --network host: the host\'s interfaces', async () => {
    const none = await cs.cli(['run', '--rm', 'base', 'ls', '/sys/class/net']);
    assert.equal(none.stdout, 'lo\n');
    const host = await cs.cli(['run', '--rm', '--network', 'host', 'base', 'ls', '/sys/class/net']);
    assert.equal(host.stdout.split('\n').filter((l) => l !== '').sort().join(','), readdirSync('/sys/class/net').sort().join(','));
  });

  test('-d: the output goes to `container logs`, the status to ps', async () => {
    const r = await cs.cli(['run', '-d', '--name', 'bg', 'base', 'sh', '-c', 'echo out; echo err >&2; exit 4']);
    assert.equal(r.status, 0, r.stderr);
    await until(async () => (await cs.inspect('bg')).state === 'exited', 10_000, 'exited');
    assert.equal((await cs.inspect('bg')).exitStatus, 4);
    // The runtime copies stdout and stderr through two pipes: their relative order is not kept.
    const lines = (text: string): string[] => text.split('\n').sort();
    assert.deepEqual(lines((await cs.cli(['container', 'logs', 'bg'])).stdout), lines('out\nerr\n'));
    const follow = await cs.cli(['container', 'logs', '-f', 'bg']);
    assert.deepEqual(lines(follow.stdout), lines('out\nerr\n'), 'follow ends when the container has ended');
  });

  test('container create, then start (detached), then start again while running is refused', async () => {
    const created = await cs.cli(['container', 'create', '--name', 'later', 'base', 'sleep', '1000']);
    assert.equal(created.status, 0, created.stderr);
    assert.equal((await cs.inspect('later')).state, 'created');
    assert.match((await cs.cli(['ps', '-a'])).stdout, /\nlater +[0-9a-f]{12} +created +base +sleep 1000 +.* ago +Created\n/);
    const start = await cs.cli(['container', 'start', 'later']);
    assert.equal(start.stdout, 'later\n');
    assert.equal((await cs.inspect('later')).state, 'running');
    const twice = await cs.cli(['container', 'start', 'later']);
    assert.equal(twice.status, 4);
    assert.match(twice.stderr, /^error\[CONTAINER_STATE\]: Cannot start container "later": it is running/);
    assert.equal((await cs.cli(['container', 'rm', '-f', 'later'])).status, 0);
  });
});
