import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShibafuError } from '../errors.js';
import { spawnChild } from './child-process.js';
import { decodeStatus, posixSpawn } from './posix-spawn.js';
import { isSysError } from './sys-error.js';

const ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];

test('decodeStatus reads a wait status as <sys/wait.h> lays it out', () => {
  assert.deepEqual(decodeStatus(0), { code: 0, signal: null });
  assert.deepEqual(decodeStatus(7 << 8), { code: 7, signal: null });
  assert.deepEqual(decodeStatus(255 << 8), { code: 255, signal: null });
  assert.deepEqual(decodeStatus(9), { code: null, signal: 'SIGKILL' });
  assert.deepEqual(decodeStatus(15 | 0x80), { code: null, signal: 'SIGTERM' }); // core dumped flag
});

test('posixSpawn: exit codes, signals, the environment, stdio, session and signal dispositions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-spawn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  /** Runs `sh -c script` with stdout to a file; returns how it ended and what it wrote. */
  const sh = async (script: string, opts: { newSession?: boolean; stdin?: number | 'ignore' } = {}) => {
    const file = join(dir, `out-${Math.random().toString(36).slice(2)}`);
    const fd = openSync(file, 'w');
    try {
      const child = posixSpawn('sh', ['-c', script], { stdio: [opts.stdin ?? 'ignore', fd, 2], newSession: opts.newSession ?? false, env: [...ENV, 'GREETING=hello there'] });
      assert.ok(child.pid > 0);
      const exit = await child.exited;
      return { ...exit, out: readFileSync(file, 'utf8'), child, file };
    } finally {
      closeSync(fd);
    }
  };

  await t.test('the exit code and the environment given', async () => {
    const r = await sh('echo "$GREETING"; exit 7');
    assert.deepEqual([r.code, r.signal, r.out], [7, null, 'hello there\n']);
  });

  await t.test('death by a signal, after which signal() is refused', async () => {
    const r = await sh('kill -TERM $$; sleep 5');
    assert.deepEqual([r.code, r.signal], [null, 'SIGTERM']);
    assert.equal(r.child.signal('SIGKILL'), false);
  });

  await t.test('signal() reaches a running child', async () => {
    const child = posixSpawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore'], newSession: false, env: ENV });
    assert.equal(child.signal('SIGINT'), true);
    assert.deepEqual(await child.exited, { code: null, signal: 'SIGINT' });
  });

  await t.test('no signal ignored or blocked in the child although Node ignores SIGPIPE', async () => {
    // exec: grep reads its own status, which it inherits from the shell posix_spawn started. (It
    // read the shell's once, /proc/$$, and the shell blocks every signal around its fork of grep:
    // a race that failed under load.)
    const r = await sh('exec grep -E "^Sig(Ign|Blk):" /proc/self/status');
    assert.equal(r.out, 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });

  await t.test("'ignore' is /dev/null; an fd given is the child's", async () => {
    const r = await sh('readlink /proc/$$/fd/0 /proc/$$/fd/1');
    assert.equal(r.out, `/dev/null\n${r.file}\n`);
  });

  await t.test('newSession makes the child a session leader (sid = pid), else it stays in ours', async () => {
    const field = (stat: string, n: number) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n - 3]);
    const leader = await sh('cat /proc/$$/stat', { newSession: true });
    assert.equal(field(leader.out, 6), leader.child.pid);
    const ours = await sh('cat /proc/$$/stat');
    assert.notEqual(field(ours.out, 6), ours.child.pid);
    assert.equal(field(ours.out, 4), process.pid); // ppid: this process, no intermediate
  });

  await t.test('a program that does not exist: ENOENT, as RUNTIME_NOT_FOUND through spawnChild', async () => {
    assert.throws(() => posixSpawn('shibafu-no-such-program', [], { stdio: ['ignore', 'ignore', 'ignore'], newSession: false, env: ENV }),
      (err) => isSysError(err, 'ENOENT'));
    assert.throws(() => posixSpawn('/nonexistent/runc', [], { stdio: ['ignore', 'ignore', 'ignore'], newSession: false, env: ENV }),
      (err) => isSysError(err, 'ENOENT'));
    await assert.rejects(spawnChild('shibafu-no-such-program', [], { stdio: ['ignore', 'ignore', 'ignore'] }),
      (err) => err instanceof ShibafuError && err.code === 'RUNTIME_NOT_FOUND');
  });

  await t.test('spawnChild takes this path for handed-over fds only, Node\'s for pipes', async () => {
    const native = await spawnChild('true', [], { stdio: ['ignore', 'ignore', 'ignore'] });
    assert.throws(() => native.unref(), /posix_spawn/);
    assert.deepEqual(await native.exited, { code: 0, signal: null });
    const piped = await spawnChild('sh', ['-c', 'echo piped'], { stdio: ['ignore', 'pipe', 'ignore'] });
    assert.notEqual(piped.stdout, null);
    let text = '';
    for await (const chunk of piped.stdout!) text += String(chunk);
    assert.equal(text, 'piped\n');
    assert.deepEqual(await piped.exited, { code: 0, signal: null });
  });
});
