/**
 * The resident service (`shibafu service start|stop|status|run`) and the native front end that
 * hands commands to it (bin/shibafu → dist/native/shibafu): served commands see the client's
 * stdio, cwd, environment and signals and return its exit status; what the service does not
 * serve, or a service that is gone or stale, falls back to the Node CLI. Real runc, as root.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collect, type CliResult } from './helpers/cli.js';
import { containerSkip, containerStore, until, waitForOutput } from './container-harness.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FRONT_END = join(REPO, 'bin', 'shibafu');
const skip = containerSkip !== false ? containerSkip : existsSync(join(REPO, 'dist', 'native', 'shibafu')) ? false : 'needs the native front end (a C compiler at build time)';

/** `bin/shibafu ARGS` as a user runs it, telling on stderr who ran it (SHIBAFU_TRACE_SERVICE). */
function frontEnd(bin: string, args: readonly string[], options: { stdin?: string; cwd?: string; env?: Record<string, string> } = {}): ReturnType<typeof spawn> {
  const env: Record<string, string | undefined> = { ...process.env, SHIBAFU_TRACE_SERVICE: '1', ...options.env };
  delete env.SHIBAFU_DEBUG;
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env, ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) });
  child.stdin?.on('error', () => {});
  child.stdin?.end(options.stdin ?? '');
  return child;
}

/**
 * The output without the front end's trace line, and who ran the command: "served" comes after
 * the command's output, the others before it (the front end then runs the Node CLI).
 */
function traced(r: CliResult): CliResult & { ranBy: string } {
  const served = /service: served\n$/.exec(r.stderr);
  if (served !== null) return { ...r, stderr: r.stderr.slice(0, served.index), ranBy: 'served' };
  const other = /^service: (fallback|none|off)\n/.exec(r.stderr);
  assert.ok(other !== null, `no trace line in ${JSON.stringify(r.stderr)}`);
  return { ...r, stderr: r.stderr.slice(other[0].length), ranBy: other[1] as string };
}

describe('the service', { skip }, () => {
  // Registered before the store's own cleanup: a service must not outlive its store.
  after(async () => { await shibafu(['service', 'stop']); });
  const cs = containerStore({ skip });
  const root = (): string => cs.ts.root;
  const shibafu = async (args: readonly string[], options: Parameters<typeof frontEnd>[2] = {}) =>
    traced(await collect(frontEnd(FRONT_END, ['--root', root(), ...args], options)));

  before(async () => {
    const r = await shibafu(['service', 'start']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^service started: pid \d+, socket .*\/service\.sock\n$/);
    assert.equal(r.ranBy, 'none'); // no socket yet: the Node CLI starts the service
  });

  test('status: running, its socket a 0600 socket in the store', async () => {
    const r = await shibafu(['service', 'status', '--json']);
    assert.equal(r.status, 0);
    const s = JSON.parse(r.stdout) as { running: boolean; pid: number; socket: string };
    assert.equal(s.running, true);
    assert.equal(s.socket, join(root(), 'service.sock'));
    const st = statSync(s.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.ok(existsSync(`/proc/${s.pid}`));
  });

  test('a second service on the same store is refused: SERVICE_RUNNING, exit 4', async () => {
    const r = await shibafu(['service', 'run']);
    assert.equal(r.status, 4);
    assert.match(r.stderr, /^error\[SERVICE_RUNNING\]: Cannot start the service of .*: one is running already\n/);
  });

  test('run: the container\'s output on the client\'s stdout and stderr, its exit status', async () => {
    const r = await shibafu(['run', '--rm', 'base', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual({ ranBy: r.ranBy, status: r.status, stdout: r.stdout, stderr: r.stderr }, { ranBy: 'served', status: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  test('run -i: the client\'s stdin reaches the container; -e and the client\'s cwd for --env-file', async () => {
    const cat = await shibafu(['run', '--rm', '-i', 'base', 'cat'], { stdin: 'piped through\n' });
    assert.deepEqual([cat.ranBy, cat.status, cat.stdout], ['served', 0, 'piped through\n']);
    const envFile = join(cs.ts.inputs, 'vars.env');
    spawnSync('sh', ['-c', `printf 'FROM_FILE=yes\\n' > ${envFile}`]);
    const env = await shibafu(['run', '--rm', '-e', 'A=1', '--env-file', basename(envFile), 'base', 'sh', '-c', 'echo $A $FROM_FILE'], { cwd: cs.ts.inputs });
    assert.deepEqual([env.ranBy, env.status, env.stdout], ['served', 0, '1 yes\n']);
  });

  test('a client whose stdin is closed: the service gives the command /dev/null, not the socket', { timeout: 30_000 }, async () => {
    const r = traced(await collect(spawn('sh', ['-c', `exec "$0" --root "$1" run --rm -i base cat <&-`, FRONT_END, root()], {
      stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHIBAFU_TRACE_SERVICE: '1' },
    })));
    assert.deepEqual([r.ranBy, r.status, r.stdout, r.stderr], ['served', 0, '', '']);
  });

  test('errors: the same error[CODE] text and exit status as without the service', async () => {
    const served = await shibafu(['layer', 'inspect', 'nope']);
    const own = await shibafu(['layer', 'inspect', 'nope'], { env: { SHIBAFU_SERVICE: 'off' } });
    assert.equal(served.ranBy, 'served');
    assert.equal(own.ranBy, 'off');
    assert.equal(served.status, 3);
    assert.equal(served.stderr, own.stderr);
    assert.match(served.stderr, /^error\[LAYER_NOT_FOUND\]: Cannot find layer "nope"/);
    const notFound = await shibafu(['run', '--rm', 'base', 'no-such-command']);
    assert.equal(notFound.status, 127);
  });

  test('layer list --json: the same bytes served or not', async () => {
    const served = await shibafu(['layer', 'list', '--json']);
    const own = await shibafu(['layer', 'list', '--json'], { env: { SHIBAFU_SERVICE: 'off' } });
    assert.equal(served.ranBy, 'served');
    assert.equal(served.stdout, own.stdout);
    assert.equal((JSON.parse(served.stdout) as { names: string[] }[])[0]?.names[0], 'base');
  });

  test('a relative --root and the demos are left to the Node CLI (fallback), with the same result', async () => {
    const r = traced(await collect(frontEnd(FRONT_END, ['--root', basename(root()), 'layer', 'list'], { cwd: dirname(root()) })));
    assert.equal(r.ranBy, 'fallback');
    assert.equal(r.status, 0);
    // The root from SHIBAFU_ROOT, so the demo keeps to its own sandbox under TMPDIR.
    const demo = traced(await collect(frontEnd(FRONT_END, ['demo', 'cow', '--size', '1M', '--json'], { env: { SHIBAFU_ROOT: root(), TMPDIR: cs.ts.inputs } })));
    assert.deepEqual([demo.ranBy, demo.status], ['fallback', 0]);
    assert.equal((JSON.parse(demo.stdout) as { demo: string }).demo, 'cow');
  });

  test('signals: SIGTERM to the client reaches the container (its trap decides the status)', async () => {
    const child = frontEnd(FRONT_END, ['--root', root(), 'run', '--rm', 'base', 'sh', '-c', 'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done']);
    const done = collect(child);
    await waitForOutput(child, 'ready');
    child.kill('SIGTERM');
    const r = traced(await done);
    assert.deepEqual([r.ranBy, r.status, r.stdout], ['served', 42, 'ready\ngot TERM\n']);
  });

  test('six runs at once (more than libuv\'s four default threads, one of which each run holds), each with its own output', async () => {
    const names = ['A', 'B', 'C', 'D', 'E', 'F'];
    const results = await Promise.all(names.map((x, i) => shibafu(['run', '--rm', 'base', 'sh', '-c', `sleep 1; echo ${x}; exit ${i}`])));
    assert.deepEqual(results.map((r) => [r.ranBy, r.stdout, r.status]), names.map((x, i) => ['served', `${x}\n`, i]));
  });

  test('a client killed during run: the container goes on (as with podman); once stopped, the service removes it (--rm)', async () => {
    const child = frontEnd(FRONT_END, ['--root', root(), 'run', '--rm', '--name', 'orphan', 'base', 'sh', '-c', 'echo ready; while :; do sleep 0.1; done']);
    await waitForOutput(child, 'ready');
    child.kill('SIGKILL');
    // 'exit', not 'close': the container still holds the client's stdout and stderr.
    await new Promise((resolve) => child.on('exit', resolve));
    const ps = await shibafu(['ps', '--json']);
    assert.deepEqual((JSON.parse(ps.stdout) as { name: string; state: string }[]).map((c) => [c.name, c.state]), [['orphan', 'running']]);
    const stop = await shibafu(['container', 'stop', '--time', '1', 'orphan']);
    assert.equal(stop.status, 0, stop.stderr);
    await until(async () => (await shibafu(['ps', '-aq'])).stdout === '', 10_000, 'the container to be removed');
  });
});

describe('the service when it is gone or stale', { skip }, () => {
  after(async () => { await shibafu(['service', 'stop']); });
  const cs = containerStore({ skip });
  // A copy of the CLI, so that "rebuilding" it (a new mtime) does not touch the checkout's.
  const pkg = mkdtempSync(join(tmpdir(), 'shibafu-service-pkg-'));
  after(() => rmSync(pkg, { recursive: true, force: true }));
  before(() => {
    for (const part of ['bin', 'dist/cli', 'dist/native', 'package.json']) cpSync(join(REPO, part), join(pkg, part), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(pkg, 'node_modules'));
  });
  const shibafu = async (args: readonly string[]) => traced(await collect(frontEnd(join(pkg, 'bin', 'shibafu'), ['--root', cs.ts.root, ...args])));

  test('no service: the Node CLI runs the command', async () => {
    const r = await shibafu(['layer', 'list']);
    assert.deepEqual([r.ranBy, r.status], ['none', 0]);
  });

  test('a killed service: its socket is refused, the Node CLI runs the command; a new service replaces the socket', async () => {
    const started = await shibafu(['service', 'start', '--json']);
    const { pid } = JSON.parse(started.stdout) as { pid: number };
    process.kill(pid, 'SIGKILL');
    await until(() => !existsSync(`/proc/${pid}`), 5_000, 'the service to die');
    assert.ok(existsSync(join(cs.ts.root, 'service.sock')));
    const r = await shibafu(['layer', 'list']);
    assert.deepEqual([r.ranBy, r.status], ['none', 0]);
    const again = await shibafu(['service', 'start']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal((await shibafu(['layer', 'list'])).ranBy, 'served');
  });

  test('a rebuilt CLI: the old service sends the command back and stops', async () => {
    assert.equal((await shibafu(['service', 'status'])).stdout.startsWith('running'), true);
    const bundle = join(pkg, 'dist', 'cli', 'shibafu.cjs');
    utimesSync(bundle, new Date(), new Date(Date.now() + 5_000));
    const r = await shibafu(['run', '--rm', 'base', 'echo', 'fresh']);
    assert.deepEqual([r.ranBy, r.status, r.stdout], ['fallback', 0, 'fresh\n']);
    await until(async () => (await shibafu(['service', 'status'])).stdout.startsWith('not running'), 5_000, 'the old service to stop');
    assert.equal(existsSync(join(cs.ts.root, 'service.sock')), false);
  });

  test('--time: a service with no command for that long ends, and removes its socket', async () => {
    const bad = await shibafu(['service', 'start', '--time', '1.5']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^error\[USAGE\]: Cannot use --time 1.5: expected whole seconds/);
    const started = await shibafu(['service', 'start', '--time', '1']);
    assert.equal(started.status, 0, started.stderr);
    assert.equal((await shibafu(['layer', 'list'])).ranBy, 'served');
    await until(async () => (await shibafu(['service', 'status'])).stdout.startsWith('not running'), 10_000, 'the idle service to end');
    assert.equal(existsSync(join(cs.ts.root, 'service.sock')), false);
  });

  test('service stop without a service: SERVICE_NOT_RUNNING, exit 3', async () => {
    const r = await shibafu(['service', 'stop']);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /^error\[SERVICE_NOT_RUNNING\]: Cannot stop the service of .*: none is running\n/);
  });
});
