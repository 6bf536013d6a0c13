import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isCgroup2Unified } from './cgroup-mode.js';

test('isCgroup2Unified agrees with the file system type mounted at /sys/fs/cgroup', () => {
  // mountinfo: "... MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS"; the last mount wins.
  const types = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f[4] === '/sys/fs/cgroup')
    .map((f) => f[f.indexOf('-') + 1]);
  const expected = types.at(-1) === 'cgroup2';
  assert.equal(isCgroup2Unified(), expected, `mounted at /sys/fs/cgroup: ${types.join(', ') || 'nothing'}`);
  assert.equal(isCgroup2Unified(), expected, 'the same answer again (probed once)');
});
