/** The STATUS column of `ps` (docker's and podman's wording). No root needed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusText } from '../src/cli/commands/ps.js';

const now = Date.parse('2026-01-01T00:01:00Z');

test('statusText: created, up, exited with a status, exited unseen, not mounted', () => {
  const base = { exitStatus: null, started: null, finished: null, mounted: true };
  assert.equal(statusText({ ...base, state: 'created' }, now), 'Created');
  assert.equal(statusText({ ...base, state: 'running', started: '2026-01-01T00:00:55Z' }, now), 'Up 5 seconds');
  assert.equal(statusText({ ...base, state: 'exited', exitStatus: 3, finished: '2026-01-01T00:00:55Z' }, now), 'Exited (3) 5 seconds ago');
  assert.equal(statusText({ ...base, state: 'stopped', exitStatus: 137, finished: '2026-01-01T00:00:00Z' }, now), 'Exited (137) 1 minute ago');
  assert.equal(statusText({ ...base, state: 'exited', finished: '2026-01-01T00:00:59Z' }, now), 'Exited (unknown) 1 second ago');
  assert.equal(statusText({ ...base, state: 'exited', exitStatus: 0, finished: '2026-01-01T00:00:59Z', mounted: false }, now), 'Exited (0) 1 second ago, not mounted');
});
