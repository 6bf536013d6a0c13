/**
 * `shibafu run` in the foreground (issue 3, point 1): exit statuses, stdin, env, workdir, user and
 * a real TTY. Real runc and overlay mounts, as root; each file has its own store.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SHIBAFU_BIN, collect } from './helpers/cli.js';
import { containerSkip, containerStore, until } from './container-harness.js';

const skip = containerSkip;

describe('run: exit statuses', { skip }, () => {
  const cs = containerStore();

  test('0 and the output of a command that succeeds', async () => {
    const r = await cs.cli(['run', '--rm', '--layers', 'base', 'echo', 'hello world']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'hello world\n');
    assert.equal(r.status, 0);
  });

  test("the container's own status: sh -c 'exit 3' exits 3", async () => {
    const r = await cs.cli(['run', '--rm', 'base', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.status, 3);
  });

  test('a signal that kills the container from outside: 128 + N', async () => {
    const child = cs.start(['run', '--rm', '--name', 'victim', 'base', 'sh', '-c', 'echo ready; exec sleep 100']);
    const done = collect(child);
    await until(async () => (await cs.inspect('victim').catch(() => null))?.pid != null, 10_000, 'the pid');
    const { pid } = await cs.inspect('victim');
    // The kernel lets no process inside kill the namespace's init with SIGKILL: kill it from here.
    process.kill(pid as number, 'SIGKILL');
    const r = await done;
    assert.equal(r.stdout, 'ready\n');
    assert.equal(r.status, 137);
  });

  test('127 when the command is not found, with COMMAND_NOT_FOUND', async () => {
    const r = await cs.cli(['run', '--rm', 'base', 'no-such-command']);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /^error\[COMMAND_NOT_FOUND\]: Cannot run "no-such-command" in container "[^"]+": executable file not found in \$PATH\n/);
    const missingPath = await cs.cli(['run', '--rm', 'base', '/bin/nope']);
    assert.equal(missingPath.status, 127);
  });

  test('126 when the command is not executable (a plain file, a directory)', async () => {
    const file = await cs.cli(['run', '--rm', 'base', '/etc/passwd']);
    assert.equal(file.status, 126);
    assert.match(file.stderr, /^error\[COMMAND_NOT_EXECUTABLE\]: .*\/etc\/passwd is not executable/);
    const dir = await cs.cli(['run', '--rm', 'base', '/tmp']);
    assert.equal(dir.status, 126);
  });

  test('126/127 from the runtime itself when only it can tell (a command on a volume)', async () => {
    const vol = join(cs.ts.inputs, 'vol-exec');
    execFileSync('mkdir', ['-p', vol]);
    writeFileSync(join(vol, 'script'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const notExec = await cs.cli(['run', '--rm', '-v', `${vol}:/v`, 'base', '/v/script']);
    assert.equal(notExec.status, 126, notExec.stderr);
    const missing = await cs.cli(['run', '--rm', '-v', `${vol}:/v`, 'base', '/v/missing']);
    assert.equal(missing.status, 127, missing.stderr);
  });

  test('125 when shibafu fails before the container starts (an unknown layer)', async () => {
    const r = await cs.cli(['run', '--rm', 'no-such-layer', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /^error\[LAYER_NOT_FOUND\]/);
  });

  test('125 when the runtime does not exist (--runtime); the container is left exited (125)', async () => {
    const r = await cs.cli(['run', '--name', 'no-runtime', '--runtime', '/no/such/runc', 'base', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /^error\[RUNTIME_NOT_FOUND\]: Cannot run "\/no\/such\/runc": no such program\n/);
    const ps = await cs.cli(['container', 'inspect', 'no-runtime']);
    const [v] = JSON.parse(ps.stdout) as { state: string; exitStatus: number }[];
    assert.equal(v?.state, 'exited');
    assert.equal(v?.exitStatus, 125);
    assert.equal((await cs.cli(['container', 'rm', 'no-runtime'])).status, 0);
  });

  test('125 for a usage error, -d with -t refused', async () => {
    const r = await cs.cli(['run', '-d', '-t', 'base', 'sh']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /^error\[USAGE\]: Cannot run detached with a terminal/);
  });
});

describe('run: stdin, env, workdir, user', { skip }, () => {
  const cs = containerStore();

  test('-i passes piped stdin through (1 MiB, byte for byte)', async () => {
    const input = Buffer.alloc(1024 * 1024, 'abcdefgh');
    const r = await cs.cli(['run', '--rm', '-i', 'base', 'sh', '-c', 'cat | md5sum'], { stdin: input });
    assert.equal(r.status, 0, r.stderr);
    const expected = execFileSync('md5sum', { input }).toString();
    assert.equal(r.stdout.split(' ')[0], expected.split(' ')[0]);
  });

  test('without -i the container reads /dev/null', async () => {
    const r = await cs.cli(['run', '--rm', 'base', 'sh', '-c', 'cat; echo end'], { stdin: Buffer.from('not for you\n') });
    assert.equal(r.stdout, 'end\n');
  });

  test('-e and --env-file set variables; later ones win; defaults are there', async () => {
    const envFile = join(cs.ts.inputs, 'app.env');
    writeFileSync(envFile, '# comment\nFROM_FILE=yes\nOVERRIDE=file\n\nFROM_HOST\n');
    const r = await cs.cli(['run', '--rm', '--hostname', 'box1', '--env-file', envFile, '-e', 'OVERRIDE=flag', '-e', 'SPACED=a b', 'base', 'env'], {
      env: { FROM_HOST: 'host-value' },
    });
    assert.equal(r.status, 0, r.stderr);
    const vars = new Map(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.equal(vars.get('FROM_FILE'), 'yes');
    assert.equal(vars.get('OVERRIDE'), 'flag');
    assert.equal(vars.get('SPACED'), 'a b');
    assert.equal(vars.get('FROM_HOST'), 'host-value');
    assert.equal(vars.get('PATH'), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    assert.equal(vars.get('HOSTNAME'), 'box1');
    assert.equal(vars.get('HOME'), '/root');
    assert.equal(vars.has('TERM'), false, 'TERM only with -t');
  });

  test('-w sets the working directory', async () => {
    const r = await cs.cli(['run', '--rm', '-w', '/tmp', 'base', 'pwd']);
    assert.equal(r.stdout, '/tmp\n');
  });

  test('-u 1000:1000 runs as that user, with no effective capabilities', async () => {
    const r = await cs.cli(['run', '--rm', '-u', '1000:1000', 'base', 'sh', '-c', 'id; grep CapEff /proc/self/status']);
    assert.equal(r.status, 0, r.stderr);
    const [id, capEff] = r.stdout.trim().split('\n');
    assert.match(id as string, /^uid=1000\(app\) gid=1000\(app\)/);
    assert.equal(capEff, 'CapEff:\t0000000000000000');
  });

  test('-u NAME takes uid, gid, groups and HOME from the container\'s /etc/passwd', async () => {
    const r = await cs.cli(['run', '--rm', '-u', 'app', 'base', 'sh', '-c', 'id; echo $HOME']);
    assert.equal(r.stdout, 'uid=1000(app) gid=1000(app) groups=50(staff)\n/home/app\n');
  });

  test('root gets exactly podman\'s default capabilities', async () => {
    const r = await cs.cli(['run', '--rm', 'base', 'grep', 'CapEff', '/proc/self/status']);
    // CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7, SETPCAP 8,
    // NET_BIND_SERVICE 10, SYS_CHROOT 18, SETFCAP 31.
    assert.equal(r.stdout, 'CapEff:\t00000000800405fb\n');
  });

  test('an unknown user name is a usage error (125)', async () => {
    const r = await cs.cli(['run', '--rm', '-u', 'ghost', 'base', 'true']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /has no such user/);
  });
});

describe('run: -t gives a real terminal', { skip: skip || (hasScript() ? false : 'needs script(1) from bsdutils') }, () => {
  const cs = containerStore();

  test('tty prints /dev/pts/N and TERM is set', async () => {
    const cmd = [process.execPath, SHIBAFU_BIN, '--root', cs.ts.root, 'run', '--rm', '-t', 'base', 'sh', '-c', 'tty; echo TERM=$TERM; exit 5']
      .map((a) => `'${a}'`).join(' ');
    // script(1) runs the command on a new pty: stdin, stdout and stderr are a terminal there.
    let out = '';
    let status = 0;
    try {
      out = execFileSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', input: '' });
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? '');
      status = (err as { status?: number }).status ?? -1;
    }
    assert.match(out, /\/dev\/pts\/[0-9]+\r?\n/);
    assert.match(out, /TERM=xterm/);
    assert.equal(status, 5);
  });

  test('-it: an interactive shell reads what is typed and exits with its status', async () => {
    const cmd = [process.execPath, SHIBAFU_BIN, '--root', cs.ts.root, 'run', '--rm', '-it', 'base', 'sh'].map((a) => `'${a}'`).join(' ');
    let out = '';
    let status = 0;
    try {
      out = execFileSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', input: 'echo hello-$((6*7))\nexit 7\n' });
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? '');
      status = (err as { status?: number }).status ?? -1;
    }
    assert.match(out, /\nhello-42\r?\n/);
    assert.equal(status, 7);
  });

  test('-t without any terminal is refused clearly', async () => {
    const r = await cs.cli(['run', '--rm', '-t', 'base', 'tty']);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /^error\[USAGE\]: Cannot give the container a terminal/);
  });
});

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
