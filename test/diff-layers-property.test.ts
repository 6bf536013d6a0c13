/**
 * The diff-layer property (root, real overlay mounts): for random stacks A and B,
 * merged(A + diff-create(A, B)) == merged(B), compared by mounting both and walking them with a
 * snapshot written independently of the code under test (test/fixtures/random-trees.ts); and
 * `layer diff` of the two is empty. A is two layers (an import, then a commit of random edits
 * made through a writable overlay: real whiteouts and opaque dirs); B is either A's base plus
 * other edits (sharing inodes with A) or an unrelated copy of A's tree with edits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandStack } from '../src/store/layer-mounts.js';
import type { Store } from '../src/store/store.js';
import { mutate, randomTree, Rng, snapshot } from './fixtures/random-trees.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';

const CASES = 20;

/** Runs `fn` on a read-only mount of `layers`. */
async function mounted<T>(store: Store, base: string, layers: string[], fn: (dir: string) => T): Promise<{ value: T }> {
  const target = join(base, `m-${Math.random().toString(16).slice(2)}`);
  await store.mountLayers({ layers, target });
  try {
    return { value: fn(target) };
  } finally {
    store.unmount(target);
  }
}

/** A writable mount of `on`, edited by `edit`, committed as `name`. */
async function commitEdits(store: Store, base: string, on: string, name: string, edit: (dir: string) => void): Promise<void> {
  const target = join(base, `w-${name}`);
  const view = await store.mountLayers({ layers: [on], target, writable: true });
  try {
    edit(target);
    await store.commitUpper({ upper: view.upper!, stack: expandStack(store.context, [store.resolve(on)]), name });
  } finally {
    store.unmount(target);
  }
}

test(`merged(A + diff(A, B)) == merged(B) for ${CASES} random pairs of stacks`, { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  const store = ts.store;
  let totalChanges = 0;
  for (let seed = 1; seed <= CASES; seed++) {
    const rng = new Rng(seed * 7919);
    const src = join(ts.base, `src-${seed}`);
    mkdirSync(src);
    randomTree(rng, src, 25);
    await store.createLayer({ name: `base-${seed}`, fromDir: src });
    await commitEdits(store, ts.base, `base-${seed}`, `a-${seed}`, (dir) => mutate(rng, dir, 10));
    if (seed % 2 === 0) {
      await commitEdits(store, ts.base, `base-${seed}`, `b-${seed}`, (dir) => mutate(rng, dir, 12));
    } else {
      const copy = join(ts.base, `b-src-${seed}`);
      await mounted(store, ts.base, [`a-${seed}`], (dir) => execFileSync('cp', ['-a', `${dir}/.`, copy]));
      mutate(rng, copy, 12);
      await store.createLayer({ name: `b-${seed}`, fromDir: copy });
    }
    const made = await store.createDiffLayer({ name: `d-${seed}`, from: [`a-${seed}`], to: [`b-${seed}`] });
    assert.equal(made.layer.parentNames[0], `a-${seed}`);
    totalChanges += made.changes.length;
    const want = (await mounted(store, ts.base, [`b-${seed}`], snapshot)).value;
    const got = (await mounted(store, ts.base, [`d-${seed}`], snapshot)).value;
    assert.deepEqual(got, want, `case ${seed}: A + diff differs from B`);
    assert.deepEqual(await store.diffLayers([`d-${seed}`], [`b-${seed}`]), [], `case ${seed}: layer diff of A + diff and B`);
  }
  assert.ok(totalChanges > CASES * 5, `the random edits made few changes (${totalChanges})`);
});

test('diff-create is deterministic: the same A and B give the same layer', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  const rng = new Rng(42);
  const src = join(ts.base, 'src');
  mkdirSync(src);
  randomTree(rng, src, 25);
  await ts.store.createLayer({ name: 'base', fromDir: src });
  await commitEdits(ts.store, ts.base, 'base', 'a', (dir) => mutate(rng, dir, 10));
  await commitEdits(ts.store, ts.base, 'base', 'b', (dir) => mutate(rng, dir, 10));
  const one = await ts.store.createDiffLayer({ name: 'd1', from: ['a'], to: ['b'] });
  const two = await ts.store.createDiffLayer({ name: 'd2', from: ['a'], to: ['b'] });
  assert.equal(two.layer.chainId, one.layer.chainId);
  assert.equal(two.existed, true);
});

test('hard-link structure alone: separate identical files become links, and links become separate files', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  const t = new Date(1_650_000_000_000);
  const tree = (name: string, linked: boolean): string => {
    const dir = join(ts.base, name);
    mkdirSync(join(dir, 'd'), { recursive: true });
    writeFileSync(join(dir, 'd/x'), 'same bytes');
    if (linked) linkSync(join(dir, 'd/x'), join(dir, 'd/y'));
    else writeFileSync(join(dir, 'd/y'), 'same bytes');
    for (const p of ['d/x', 'd/y', 'd', '']) utimesSync(join(dir, p), t, t);
    return dir;
  };
  await ts.store.createLayer({ name: 'separate', fromDir: tree('separate', false) });
  await ts.store.createLayer({ name: 'linked', fromDir: tree('linked', true) });
  assert.deepEqual((await ts.store.diffLayers(['separate'], ['linked'])).map((c) => `${c.kind} ${c.path}`), ['C /d/x', 'C /d/y']);
  for (const [from, to] of [['separate', 'linked'], ['linked', 'separate']] as const) {
    await ts.store.createDiffLayer({ name: `${from}-to-${to}`, from: [from], to: [to] });
    const want = (await mounted(ts.store, ts.base, [to], snapshot)).value;
    const got = (await mounted(ts.store, ts.base, [`${from}-to-${to}`], snapshot)).value;
    assert.deepEqual(got, want);
  }
});
