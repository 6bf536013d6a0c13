import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, ShibafuError, fromSystemError } from './errors.js';

test('every error code is documented in docs/errors.md with its exit status', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, { exit }] of Object.entries(ERROR_CODES)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${exit} \\|`), `docs/errors.md lacks a row for ${code} (exit ${exit})`);
  }
});

test('exit statuses follow the classes of STYLE.md', () => {
  assert.equal(new ShibafuError('LAYER_NOT_FOUND', 'x').exitStatus, 3);
  assert.equal(new ShibafuError('LAYER_IN_USE', 'x').exitStatus, 4);
  assert.equal(new ShibafuError('TAR_CORRUPT', 'x').exitStatus, 5);
  assert.equal(new ShibafuError('STACK_TOO_DEEP', 'x').exitStatus, 6);
});

test('system errors map by errno code and keep the cause', () => {
  const cause = Object.assign(new Error('boom'), { code: 'ENOSPC' });
  const err = fromSystemError(cause, 'write "a"');
  assert.equal(err.code, 'NO_SPACE');
  assert.equal(err.cause, cause);
  assert.equal(fromSystemError(Object.assign(new Error('x'), { code: 'EPERM' }), 'mount').code, 'PERMISSION_DENIED');
  assert.equal(fromSystemError(Object.assign(new Error('x'), { code: 'EIO' }), 'read').code, 'IO_ERROR');
});
