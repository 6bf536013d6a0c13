/**
 * The container and changes suites again on every other storage driver: the same test files, run
 * by a child `node --test` whose stores are made with SHIBAFU_TEST_DRIVER (test/helpers/
 * test-driver.ts): btrfs on a loop device per store, fuse-overlayfs, zfs in a zfs-fuse pool made
 * here for the whole run. What is a fact of one on-disk format (an overlay upper's whiteouts, a
 * kernel mount's options) is asserted per format inside those files; everything else is the same
 * contract. The child's report is shown on failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { containerSkip } from './container-harness.js';
import { needsBtrfs } from './helpers/loop-btrfs.js';
import { TEST_ZFS_POOL_ENV } from './helpers/test-driver.js';
import { createZfsTestPool, zfsUnavailable, type ZfsTestPool } from './helpers/zfs-pool.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FILES = [
  'run-exit', 'run-signals', 'run-seed', 'container-lifecycle', 'container-changes', 'container-status', 'container-commit-move',
  'changes-commit', 'changes-upper', 'diff-layers-cli', 'diff-layers-property', 'export-layer', 'store-add-crash',
];
const fuseMissing = spawnSync('fuse-overlayfs', ['--version']).error !== undefined ? 'fuse-overlayfs is not installed (apt-get install fuse-overlayfs)' : false;

function runSuites(driver: string, extraEnv: Record<string, string> = {}): void {
  // Without NODE_TEST_CONTEXT, which would make the child skip its files as a nested run.
  const { NODE_TEST_CONTEXT: _nested, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...FILES.map((f) => join(HERE, `${f}.test.js`))], {
    env: { ...env, ...extraEnv, SHIBAFU_TEST_DRIVER: driver }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024,
  });
  const summary = /^# pass (\d+)\n# fail (\d+)/m.exec(r.stdout);
  assert.ok(summary !== null, `no summary from the child run:\n${r.stdout}\n${r.stderr}`);
  assert.equal(Number(summary[2]), 0, `failures on the ${driver} driver:\n${r.stdout}\n${r.stderr}`);
  assert.ok(Number(summary[1]) >= 80, `only ${summary[1]} tests ran on the ${driver} driver`);
  assert.equal(r.status, 0);
}

describe('the container and changes suites on the other drivers', { skip: containerSkip }, () => {
  test(`btrfs (${FILES.join(', ')})`, { skip: needsBtrfs, timeout: 900_000 }, () => runSuites('btrfs'));

  test('fuse-overlayfs', { skip: fuseMissing, timeout: 900_000 }, () => runSuites('fuse-overlayfs'));

  let zp: ZfsTestPool | undefined;
  after(() => zp?.destroy());
  test('zfs (zfs-fuse, a pool in a file)', { skip: zfsUnavailable(), timeout: 1_200_000 }, () => {
    zp = createZfsTestPool();
    runSuites('zfs', { [TEST_ZFS_POOL_ENV]: `${zp.pool}:${zp.mountpoint}` });
  });
});
