/**
 * `layer add` is all or nothing (CopyToLayer into tmp/, or inside the layer's snapshot where that
 * is a file system of its own, then renames): a second add on the same open layer while one runs
 * is refused with LAYER_IN_USE, and an add killed with SIGKILL in the middle of its copy leaves
 * the open layer exactly as it was, its copy swept by the next open.
 * Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { collect, runCli, startCli } from './helpers/cli.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { TEST_FORMAT } from './helpers/test-driver.js';
import { snapshotTree } from './helpers/tree-snapshot.js';

/** Files in the source tree: enough that copying them takes a few hundred milliseconds at least. */
const FILES = 12_000;
/** Copied entries that prove the add is under way. */
const UNDER_WAY = 500;

/** A source tree of FILES small files in FILES / 100 directories. */
function sourceTree(ts: TempStore): string {
  const src = join(ts.inputs, 'tree');
  for (let d = 0; d < FILES / 100; d++) {
    mkdirSync(join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(src, `d${d}`, `f${f}`), `${d}/${f}\n`);
  }
  return src;
}

/** The copy of an add with staging dir `tmp/add-<token>`: in it, or inside the open layer's own file system. */
function copyOf(stagingName: string, openDiff: string): string {
  return TEST_FORMAT === 'overlay' ? join(stagingName, 'tree') : join(openDiff, `.shibafu-add-${stagingName.slice('add-'.length)}`);
}

/** Entries copied so far by a running add (its staging dir under tmp/), or undefined. */
function copiedSoFar(ts: TempStore, openDiff: string): { staging: string; entries: number } | undefined {
  const tmp = join(ts.root, 'tmp');
  for (const name of readdirSync(tmp)) {
    if (!name.startsWith('add-')) continue;
    try {
      const tree = TEST_FORMAT === 'overlay' ? join(tmp, name, 'tree') : copyOf(name, openDiff);
      const entries = readdirSync(tree).reduce((n, d) => n + readdirSync(join(tree, d)).length, 0);
      return { staging: join(tmp, name), entries };
    } catch {
      // not there yet
    }
  }
  return undefined;
}

describe('layer add while another runs, and killed half-way', { skip: needsRoot }, () => {
  test('SIGKILL mid-copy: the open layer as it was; the next open sweeps the copy', async () => {
    const ts = makeTempStore();
    const src = sourceTree(ts);
    await ts.store.createLayer({ name: 'wip' });
    const keep = join(ts.inputs, 'keep.txt');
    writeFileSync(keep, 'kept\n');
    await ts.store.addToLayer('wip', keep, '/keep.txt');
    const openDiff = ts.store.inspectLayer('wip').path;
    const before = snapshotTree(openDiff);
    ts.store.close();

    const child = startCli(['--root', ts.root, 'layer', 'add', 'wip', src, '/data']);
    const done = collect(child);
    let seen: { staging: string; entries: number } | undefined;
    while ((seen = copiedSoFar(ts, openDiff)) === undefined || seen.entries < UNDER_WAY) {
      if (child.exitCode !== null) throw new Error(`the add ended (${child.exitCode}) before it was seen half-way`);
      await sleep(5);
    }
    // While it runs, a second add on the same open layer is refused, and changes nothing.
    const second = await runCli(['--root', ts.root, 'layer', 'add', 'wip', keep, '/other.txt']);
    assert.equal(second.status, 4, second.stderr);
    assert.match(second.stderr, /^error\[LAYER_IN_USE\]: Cannot add to layer "wip": another shibafu process is writing to it/);
    child.kill('SIGKILL');
    const r = await done;
    assert.equal(r.signal, 'SIGKILL', `the add finished before the kill: ${r.stderr}`);

    // On a whole-tree driver the copy stays inside the layer's snapshot until the next open sweeps it.
    const copy = copyOf(basename(seen.staging), openDiff);
    assert.equal(existsSync(copy), TEST_FORMAT === 'dir');
    const aside = relative(openDiff, copy);
    const now = snapshotTree(openDiff, (rel) => rel === aside || rel.startsWith(`${aside}/`));
    // ... and the root's times are given back with it.
    if (TEST_FORMAT === 'dir') now['.'] = before['.'] as string;
    assert.deepEqual(now, before, 'the killed add changed the open layer');
    const store = ts.reopen();
    assert.deepEqual(store.swept, [{ path: seen.staging, kind: 'add', action: 'removed' }]);
    assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
    assert.deepEqual(snapshotTree(openDiff), before);

    // The layer still takes the add, whole, and seals.
    await store.addToLayer('wip', src, '/data');
    assert.equal(readdirSync(join(openDiff, 'data')).length, FILES / 100);
    const sealed = await store.sealLayer('wip');
    assert.equal(sealed.layer.files, 1 + 1 + FILES / 100 + FILES);
  });
});
