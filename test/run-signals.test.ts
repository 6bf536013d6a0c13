/**
 * Signals and stopping (issue 3, points 1-2): a signal sent to `shibafu run` reaches the container
 * once; `container stop` sends SIGTERM, then SIGKILL after --time; `container kill` sends one
 * signal. Real runc, as root.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SHIBAFU_BIN, collect } from './helpers/cli.js';
import { containerSkip, containerStore, parentPid, waitForOutput } from './container-harness.js';

const skip = containerSkip;

/** A container that exits with `status` when it gets `sig`, after printing "ready". */
function trapping(sig: string, status: number): string[] {
  return ['sh', '-c', `trap "echo got ${sig}; exit ${status}" ${sig}; echo ready; while :; do sleep 0.05; done`];
}

describe('run: signals sent to shibafu reach the container', { skip }, () => {
  const cs = containerStore();

  for (const [sig, status] of [['TERM', 42], ['INT', 43], ['HUP', 44], ['USR1', 45], ['QUIT', 46]] as const) {
    test(`SIG${sig} → the container's trap runs once → exit ${status}`, async () => {
      const child = cs.start(['run', '--rm', 'base', ...trapping(sig, status)]);
      const ready = waitForOutput(child, 'ready\n');
      const done = collect(child);
      await ready;
      child.kill(`SIG${sig}`);
      const r = await done;
      assert.equal(r.stdout, `ready\ngot ${sig}\n`, r.stderr);
      assert.equal(r.status, status);
    });
  }

  test('a Ctrl-C to the whole process group (as a terminal sends it) arrives once', async () => {
    // shibafu as the leader of its own process group, as a shell runs a foreground job.
    const child = spawn(process.execPath, [SHIBAFU_BIN, '--root', cs.ts.root, 'run', '--rm', '--name', 'ctrl-c', 'base', 'sh', '-c',
      'n=0; trap "n=\\$((n+1)); echo int" INT; trap "echo n=\\$n; exit 0" TERM; echo ready; while :; do sleep 0.05; done'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = waitForOutput(child, 'ready\n');
    const done = collect(child);
    let r;
    try {
      await ready;
      // Two SIGINTs sent at once would merge into one pending signal, so check the mechanism too:
      // the runtime (the container's parent) is in a session of its own, out of the terminal's reach.
      const { pid } = await cs.inspect('ctrl-c');
      assert.notEqual(sessionOf(parentPid(pid as number)), sessionOf(child.pid as number));
      const handled = waitForOutput(child, 'int\n');
      process.kill(-(child.pid as number), 'SIGINT');
      await handled;
      // A second copy, had the runtime heard the terminal too, would have come by now.
      await sleep(300);
    } finally {
      child.kill('SIGTERM');
      r = await done;
    }
    assert.equal(r.stdout, 'ready\nint\nn=1\n', r.stderr);
    assert.equal(r.status, 0);
  });
});

/** The session id of a process (field 6 of /proc/PID/stat). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

describe('container stop and kill', { skip }, () => {
  const cs = containerStore();

  test('stop: a container that exits on SIGTERM stops at once, its status kept, state stopped', async () => {
    const run = await cs.cli(['run', '-d', '--name', 'polite', 'base', ...trapping('TERM', 0)]);
    assert.equal(run.status, 0, run.stderr);
    const t0 = Date.now();
    const stop = await cs.cli(['container', 'stop', 'polite']);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal(stop.stdout, 'polite\n');
    assert.ok(Date.now() - t0 < 5000, 'stopped without waiting for the grace period');
    const v = await cs.inspect('polite');
    assert.equal(v.state, 'stopped');
    assert.equal(v.exitStatus, 0);
    assert.equal((await cs.cli(['container', 'logs', 'polite'])).stdout, 'ready\ngot TERM\n');
  });

  test('stop: a container ignoring SIGTERM is killed after --time seconds (137)', async () => {
    const run = await cs.cli(['run', '-d', '--name', 'stubborn', 'base', 'sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done']);
    assert.equal(run.status, 0, run.stderr);
    const t0 = Date.now();
    const stop = await cs.cli(['container', 'stop', '--time', '1', 'stubborn']);
    const took = Date.now() - t0;
    assert.equal(stop.status, 0, stop.stderr);
    assert.ok(took >= 1000, `waited the grace period (${took} ms)`);
    assert.ok(took < 8000, `then killed (${took} ms)`);
    const v = await cs.inspect('stubborn');
    assert.equal(v.state, 'stopped');
    assert.equal(v.exitStatus, 137);
  });

  test('stop of a container run in the foreground elsewhere: that run exits 137', async () => {
    const child = cs.start(['run', '--name', 'fg', 'base', 'sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done']);
    const ready = waitForOutput(child, 'ready\n');
    const done = collect(child);
    await ready;
    const stop = await cs.cli(['container', 'stop', '-t', '0', 'fg']);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal((await done).status, 137);
    const v = await cs.inspect('fg');
    assert.equal(v.state, 'stopped');
    assert.equal(v.exitStatus, 137);
  });

  test('kill -s HUP reaches the trap; kill of a stopped container is CONTAINER_STATE', async () => {
    await cs.cli(['run', '-d', '--name', 'hup', 'base', ...trapping('HUP', 7)]);
    const kill = await cs.cli(['container', 'kill', '-s', 'HUP', 'hup']);
    assert.equal(kill.status, 0, kill.stderr);
    await cs.cli(['container', 'stop', '-t', '5', 'hup']);
    const v = await cs.inspect('hup');
    assert.equal(v.exitStatus, 7);
    const again = await cs.cli(['container', 'kill', 'hup']);
    assert.equal(again.status, 4);
    assert.match(again.stderr, /^error\[CONTAINER_STATE\]: Cannot signal container "hup": it is not running/);
  });

  test('stop of a container that is not running is not an error', async () => {
    await cs.cli(['container', 'create', '--name', 'idle', 'base', 'true']);
    const stop = await cs.cli(['container', 'stop', 'idle']);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal((await cs.inspect('idle')).state, 'created');
  });
});
