/**
 * GetLayerChanges on a real overlay (root): changes made through a writable mount, listed from its
 * upper dir, with exact sizes; and the same list from `layer diff` of the stack and the commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expandStack } from '../src/store/layer-mounts.js';
import type { Store } from '../src/store/store.js';
import { PassThrough } from 'node:stream';
import { renderChanges, runContainerDiff } from '../src/cli/render-changes.js';
import type { Change } from '../src/changes/change.js';
import { baseTar, expectedChanges, lines, makeChanges } from './fixtures/changes-image.js';
import { TEST_DRIVER } from './helpers/test-driver.js';

const EXPECTED = expectedChanges(TEST_DRIVER);
/** fuse-overlayfs's copy-up changes the parents' times (fixtures/changes-image.ts). */
const COPIED_PARENTS = TEST_DRIVER === 'fuse-overlayfs' ? ['C /usr', 'C /usr/lib'] : [];
import { makeTempStore, needsRoot } from './helpers/temp-store.js';

async function withChangedMount(fn: (store: Store, upper: string, merged: string) => Promise<void>): Promise<void> {
  const ts = makeTempStore();
  await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', baseTar()) });
  const merged = join(ts.base, 'merged');
  const view = await ts.store.mountLayers({ layers: ['base'], target: merged, writable: true });
  try {
    makeChanges(merged);
    await fn(ts.store, view.upper!, merged);
  } finally {
    ts.store.unmount(merged);
  }
}

test('container diff: the exact changes and sizes of a writable mount', { skip: needsRoot }, async () => {
  await withChangedMount(async (store, upper) => {
    const stack = expandStack(store.context, [store.resolve('base')]);
    const changes = await store.getLayerChanges({ upper, stack });
    assert.deepEqual(lines(changes), EXPECTED);
    // usr/lib/libc.so was copied up (with its parents) but not changed: not a change.
    assert.ok(existsSync(join(upper, 'usr/lib/libc.so')));
    assert.ok(!changes.some((c) => c.path.startsWith('/usr/lib/')));
  });
});

test('container diff renders like podman diff, plus sizes', { skip: needsRoot }, async () => {
  await withChangedMount(async (store, upper) => {
    const stack = expandStack(store.context, [store.resolve('base')]);
    const text = renderChanges(await store.getLayerChanges({ upper, stack }));
    assert.deepEqual(text.split('\n'), [
      'C /data',
      'D /data/big.bin  -4.9 KiB',
      'C /etc',
      'A /etc/motd      +12 B',
      'C /etc/passwd    100 B -> 120 B',
      'C /opt',
      'C /opt/o',
      'A /opt/o/new     +4 B',
      'D /opt/o/old1    -10 B',
      'D /opt/o/old2    -20 B',
      'C /opt/o/same    4 B -> 4 B',
      ...COPIED_PARENTS,
      'C /var',
      'D /var/cache     -1.2 KiB',
      '',
    ]);
  });
});

test('the commit of the upper shows the same changes through `layer diff`', { skip: needsRoot }, async () => {
  await withChangedMount(async (store, upper) => {
    const stack = expandStack(store.context, [store.resolve('base')]);
    const committed = await store.commitUpper({ upper, stack, name: 'changed' });
    assert.equal(committed.layer.parentNames[0], 'base');
    assert.equal(committed.layer.source, 'commit');
    assert.deepEqual(lines(await store.diffLayers(['base'], ['changed'])), EXPECTED);
  });
});

test('runContainerDiff: --json output', { skip: needsRoot }, async () => {
  await withChangedMount(async (store, upper) => {
    const stack = expandStack(store.context, [store.resolve('base')]);
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const env = { io: { stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {}, cwd: '/', signal: new AbortController().signal }, root: store.root, json: true };
    assert.equal(await runContainerDiff(env, store, { upper, stack }), 0);
    assert.deepEqual(lines(JSON.parse(out) as Change[]), EXPECTED);
  });
});
