/**
 * The container tests again, each command through bin/shibafu's front end and the store's
 * service (SHIBAFU_TEST_SERVICE=1: test/helpers/cli.ts, test/container-harness.ts): one
 * contract, two ways to run it. A child `node --test` runs them; its report is shown on failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { containerSkip } from './container-harness.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FILES = ['run-exit', 'run-signals', 'run-seed', 'container-lifecycle', 'container-changes', 'container-status'];
const skip = containerSkip !== false ? containerSkip
  : existsSync(join(HERE, '..', '..', 'dist', 'native', 'shibafu')) ? false : 'needs the native front end (a C compiler at build time)';

test(`the container tests through the service (${FILES.join(', ')})`, { skip, timeout: 600_000 }, () => {
  // Without NODE_TEST_CONTEXT, which would make the child skip its files as a nested run.
  const { NODE_TEST_CONTEXT: _nested, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...FILES.map((f) => join(HERE, `${f}.test.js`))], {
    env: { ...env, SHIBAFU_TEST_SERVICE: '1' }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024,
  });
  const summary = /^# pass (\d+)\n# fail (\d+)/m.exec(r.stdout);
  assert.ok(summary !== null, `no summary from the child run:\n${r.stdout}\n${r.stderr}`);
  assert.equal(Number(summary[2]), 0, `failures through the service:\n${r.stdout}\n${r.stderr}`);
  assert.ok(Number(summary[1]) >= 50, `only ${summary[1]} tests ran`);
  assert.equal(r.status, 0);
});
