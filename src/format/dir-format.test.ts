import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ancestorStep, entryStep, whiteoutStep, type FoundNode } from './dir-format.js';
import { DIR_LAYER_FORMAT, layerFormat, OVERLAY_LAYER_FORMAT } from './layer-format.js';

const parentDir: FoundNode = { isDir: true, ours: false };
const parentOther: FoundNode = { isDir: false, ours: false };
const ourDir: FoundNode = { isDir: true, ours: true };
const ourOther: FoundNode = { isDir: false, ours: true };

test('an entry over a node: dir over dir is kept, anything else of the parent goes first, our own is a duplicate', () => {
  assert.deepEqual(
    [null, parentDir, parentOther, ourDir, ourOther].map((n) => [entryStep(n, true), entryStep(n, false)]),
    [['create', 'create'], ['update-dir', 'remove-tree'], ['unlink', 'unlink'], ['update-dir', 'duplicate'], ['duplicate', 'duplicate']],
  );
});

test('an ancestor: a parent\'s symlink or file is replaced (never followed), our own non-dir is a conflict', () => {
  assert.deepEqual([null, parentDir, parentOther, ourDir, ourOther].map(ancestorStep), ['create', 'enter', 'replace', 'enter', 'conflict']);
});

test('a whiteout deletes the parent\'s node, keeps our file, clears the parent\'s entries from our dir', () => {
  assert.deepEqual([null, parentDir, parentOther, ourDir, ourOther].map(whiteoutStep), ['none', 'remove-tree', 'remove-tree', 'clear-dir', 'keep']);
});

test('layerFormat names the two formats; overlay defaults to the trusted namespace', () => {
  assert.equal(layerFormat('dir'), DIR_LAYER_FORMAT);
  assert.equal(layerFormat('overlay'), OVERLAY_LAYER_FORMAT);
  assert.deepEqual(OVERLAY_LAYER_FORMAT, { kind: 'overlay', namespace: 'trusted' });
  assert.deepEqual(layerFormat('overlay', 'user'), { kind: 'overlay', namespace: 'user' });
});
