import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lookupCommand, resolveInRoot } from './exec-lookup.js';

const root = mkdtempSync(join(tmpdir(), 'shibafu-lookup-'));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'bin'));
mkdirSync(join(root, 'usr/bin'), { recursive: true });
mkdirSync(join(root, 'app'));
writeFileSync(join(root, 'bin/busybox'), '');
chmodSync(join(root, 'bin/busybox'), 0o755);
symlinkSync('busybox', join(root, 'bin/sh'));
symlinkSync('/bin/busybox', join(root, 'usr/bin/abs'));
symlinkSync('../../../../../../bin/busybox', join(root, 'usr/bin/climb'));
symlinkSync('/etc/shadow', join(root, 'usr/bin/host-escape'));
symlinkSync('loop2', join(root, 'usr/bin/loop1'));
symlinkSync('loop1', join(root, 'usr/bin/loop2'));
writeFileSync(join(root, 'usr/bin/plain'), '');
chmodSync(join(root, 'usr/bin/plain'), 0o644);
writeFileSync(join(root, 'app/run.sh'), '');
chmodSync(join(root, 'app/run.sh'), 0o755);

const look = (command: string, more: { cwd?: string; pathEnv?: string; mountPoints?: string[] } = {}) =>
  lookupCommand({ root, command, pathEnv: more.pathEnv ?? '/usr/bin:/bin', cwd: more.cwd ?? '/', mountPoints: more.mountPoints ?? ['/proc'] });

test('lookupCommand: PATH search follows symlinks inside the root', () => {
  assert.deepEqual(look('sh'), { kind: 'found', path: '/bin/busybox' });
  assert.deepEqual(look('abs'), { kind: 'found', path: '/bin/busybox' });
  assert.deepEqual(look('climb'), { kind: 'found', path: '/bin/busybox' }, '.. stops at the root');
});

test('lookupCommand: missing, not executable, a directory', () => {
  assert.deepEqual(look('nope'), { kind: 'not-found' });
  assert.deepEqual(look('plain'), { kind: 'not-found' }, 'PATH skips a match without x bits, as exec.LookPath does');
  assert.deepEqual(look('/usr/bin/plain'), { kind: 'not-executable', path: '/usr/bin/plain' });
  assert.deepEqual(look('/app'), { kind: 'not-executable', path: '/app' });
  assert.deepEqual(look('/usr/bin/loop1'), { kind: 'not-found' }, 'a symlink loop ends');
  assert.deepEqual(look('host-escape'), { kind: 'not-found' }, 'an absolute link resolves inside the root, not on the host');
  assert.deepEqual(look(''), { kind: 'not-found' });
});

test('lookupCommand: a relative path is taken from the working directory', () => {
  assert.deepEqual(look('./run.sh', { cwd: '/app' }), { kind: 'found', path: '/app/run.sh' });
  assert.deepEqual(look('run.sh', { cwd: '/app', pathEnv: '' }), { kind: 'found', path: '/app/run.sh' }, 'an empty PATH entry is the cwd');
});

test('lookupCommand: paths under a mount point are left to the runtime', () => {
  assert.deepEqual(look('/proc/self/exe'), { kind: 'unknown' });
  assert.deepEqual(look('/v/tool', { mountPoints: ['/v'] }), { kind: 'unknown' });
});

test('resolveInRoot: the resolved container path, null when missing', () => {
  assert.equal(resolveInRoot(root, '/usr/bin/../../bin/sh', []), '/bin/busybox');
  assert.equal(resolveInRoot(root, '/bin/busybox/x', []), null);
  assert.equal(resolveInRoot(root, '/missing/x', []), null);
});
