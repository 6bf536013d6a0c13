import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startWaitStep } from './container-start.js';

const at = (pidFile: boolean, monitorEnded: boolean, waitedMs: number): string =>
  startWaitStep({ pidFile, monitorEnded, waitedMs, timeoutMs: 60_000 });

test('a detached start waits for the pid file, then reports started, ended or timed out', () => {
  assert.equal(at(false, false, 0), 'wait');
  assert.equal(at(false, false, 59_995), 'wait');
  assert.equal(at(true, false, 10), 'started');
  // The command ran and ended at once: still started (its status is in the exit file).
  assert.equal(at(true, true, 10), 'started');
  assert.equal(at(false, true, 10), 'ended');
  assert.equal(at(false, false, 60_000), 'timed-out');
  // A pid file or an ended monitor at the deadline wins over the timeout: nothing to kill.
  assert.equal(at(true, false, 60_000), 'started');
  assert.equal(at(false, true, 60_000), 'ended');
});
