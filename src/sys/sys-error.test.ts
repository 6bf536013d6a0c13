import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errnoCode, fromSystemError, isShibafuError } from '../errors.js';
import { errnoName, isSysError, SysError } from './sys-error.js';

test('errnoName spells errnos as Node does', () => {
  assert.equal(errnoName(17), 'EEXIST');
  assert.equal(errnoName(2), 'ENOENT');
  assert.equal(errnoName(22), 'EINVAL');
  assert.equal(errnoName(16), 'EBUSY');
  assert.equal(errnoName(61), 'ENODATA');
  assert.equal(errnoName(40), 'ELOOP');
  assert.equal(errnoName(18), 'EXDEV');
  // One number, two C names: Node says ENOTSUP (not EOPNOTSUPP) and EAGAIN (not EWOULDBLOCK).
  assert.equal(errnoName(95), 'ENOTSUP');
  assert.equal(errnoName(11), 'EAGAIN');
  assert.equal(errnoName(-17), 'EEXIST');
  assert.equal(errnoName(4000), 'E4000');
});

test('SysError carries code, errno, syscall, path and the kernel detail', () => {
  const err = new SysError(22, { syscall: 'fsconfig(lowerdir+)', path: '/l/501', detail: 'overlay: too many lower directories, limit is 500' });
  assert.equal(err.code, 'EINVAL');
  assert.equal(err.errno, 22);
  assert.equal(err.syscall, 'fsconfig(lowerdir+)');
  assert.equal(err.path, '/l/501');
  assert.equal(err.message, "EINVAL: invalid argument, fsconfig(lowerdir+) '/l/501': overlay: too many lower directories, limit is 500");
  const renamed = new SysError(17, { syscall: 'renameat2', path: '/a', dest: '/b' });
  assert.equal(renamed.message, "EEXIST: file already exists, renameat2 '/a' -> '/b'");
});

test('isSysError tests the code, for SysErrors and Node errors alike', () => {
  const err = new SysError(61, { syscall: 'lgetxattr' });
  assert.equal(isSysError(err), true);
  assert.equal(isSysError(err, 'ENODATA'), true);
  assert.equal(isSysError(err, 'ENOENT', 'ENODATA'), true);
  assert.equal(isSysError(err, 'ENOENT'), false);
  assert.equal(isSysError(Object.assign(new Error('x'), { code: 'ENOENT' }), 'ENOENT'), true);
  assert.equal(isSysError(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG' })), false);
  assert.equal(isSysError(null), false);
  assert.equal(isSysError(new SysError(95, { syscall: 'ioctl(FICLONE)' }), 'EOPNOTSUPP'), true);
  assert.equal(isSysError(new SysError(11, { syscall: 'flock' }), 'EWOULDBLOCK'), true);
});

test('fromSystemError maps a SysError by code and keeps it as cause', () => {
  const eacces = new SysError(13, { syscall: 'mknod', path: '/x' });
  const mapped = fromSystemError(eacces, 'create device node "/x"');
  assert.ok(isShibafuError(mapped, 'PERMISSION_DENIED'));
  assert.equal(mapped.cause, eacces);
  assert.equal(errnoCode(mapped.cause), 'EACCES');
  assert.ok(isShibafuError(fromSystemError(new SysError(28, { syscall: 'copy_file_range' }), 'copy'), 'NO_SPACE'));
  assert.ok(isShibafuError(fromSystemError(new SysError(2, { syscall: 'lgetxattr' }), 'read xattr'), 'SOURCE_NOT_FOUND'));
  const other = fromSystemError(new SysError(18, { syscall: 'ioctl(FICLONE)' }), 'clone');
  assert.ok(isShibafuError(other, 'IO_ERROR'));
  assert.equal(errnoCode(other.cause), 'EXDEV');
});
