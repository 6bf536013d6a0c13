import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { runOutcome, runtimeFailureStatus, runtimeLogError, shellQuote, signalNumber } from './oci-runtime.js';

const log = (msg: string, level = 'error'): string => `${JSON.stringify({ level, msg, time: '2026-01-01T00:00:00Z' })}\n`;

test('runtimeLogError: the last error the runtime logged; warnings and torn lines ignored', () => {
  assert.equal(runtimeLogError(''), null);
  assert.equal(runtimeLogError(log('cgroup v1 is deprecated', 'warning')), null);
  assert.equal(runtimeLogError(log('first') + log('second') + '{"level":"err'), 'second');
});

test('runtimeFailureStatus: runc\'s exec failures as podman maps them', () => {
  assert.equal(runtimeFailureStatus('runc run failed: unable to start container process: exec: "nope": executable file not found in $PATH'), 127);
  assert.equal(runtimeFailureStatus('exec: "/bin/nope": stat /bin/nope: no such file or directory'), 127);
  assert.equal(runtimeFailureStatus('exec: "/notexec": permission denied'), 126);
  assert.equal(runtimeFailureStatus('unable to apply cgroup configuration: mkdir: read-only file system'), 125);
});

test('runOutcome: the container\'s status unless the runtime logged an error', () => {
  assert.deepEqual(runOutcome({ code: 0, signal: null }, log('ignored')), { kind: 'exited', status: 0 });
  assert.deepEqual(runOutcome({ code: 3, signal: null }, ''), { kind: 'exited', status: 3 });
  assert.deepEqual(runOutcome({ code: 1, signal: null }, log('exec: "x": permission denied')), { kind: 'runtime-error', status: 126, message: 'exec: "x": permission denied' });
  assert.deepEqual(runOutcome({ code: null, signal: 'SIGKILL' }, ''), { kind: 'exited', status: 137 });
});

test('signalNumber: Linux numbers', () => {
  assert.equal(signalNumber('SIGTERM'), 15);
  assert.equal(signalNumber('SIGKILL'), 9);
  assert.equal(signalNumber(null), 0);
});

test('shellQuote: sh reads back exactly the words given', () => {
  const words = ['plain', "it's", 'a b', '$HOME', '"q"', '', '\\n'];
  const out = execFileSync('/bin/sh', ['-c', `for w in ${shellQuote(words)}; do printf '[%s]' "$w"; done`], { encoding: 'utf8' });
  assert.equal(out, words.map((w) => `[${w}]`).join(''));
});
