/**
 * A store kept open (the service's) sweeps, at every command, what a killed process left of a
 * snapshot change too, not only what it left of the store's own operations.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';

test('Store.sweep() finishes an interrupted snapshot change left while the store was open', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  const token = '0123456789abcdef';
  // What a prepare killed after building its object leaves: its staging dir and intent, and the
  // object under its staged name (overlay storage: snapshots/staged-<token>).
  const stage = join(ts.root, 'tmp', `snapshot-prepare-${token}`);
  mkdirSync(stage);
  writeFileSync(join(stage, 'intent.json'), JSON.stringify({ kind: 'snapshot-prepare', token }));
  const staged = join(ts.root, 'snapshots', `staged-${token}`);
  mkdirSync(staged);
  ts.store.sweep();
  assert.equal(existsSync(staged), false, 'the staged object is gone');
  assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
});
