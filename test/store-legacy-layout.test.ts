/**
 * A store made before storage drivers (layers/<hex>/diff, open/<token>/diff, containers/<id>/upper)
 * is moved onto the overlay driver's snapshots when it is first opened: nothing copied, nothing
 * lost, every layer, open layer and container usable as before.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { insertContainer, type ContainerId } from '../src/db/container-queries.js';
import { Db } from '../src/db/db.js';
import { insertOpenLayer, insertSealedLayer, upsertName } from '../src/db/layer-queries.js';
import { chainIdOf, type DiffId } from '../src/ids.js';
import { containersOf, containerConfig } from '../src/index.js';
import { openStore } from '../src/store/store.js';
import { needsRoot } from './helpers/temp-store.js';

const base = mkdtempSync(join(tmpdir(), 'shibafu-legacy-'));
after(() => rmSync(base, { recursive: true, force: true }));

test('a store in the layout from before drivers is migrated on its first open', { skip: needsRoot }, async () => {
  const root = join(base, 'store');
  mkdirSync(root, { mode: 0o700 });
  const d1 = `sha256:${'1'.repeat(64)}` as DiffId;
  const d2 = `sha256:${'2'.repeat(64)}` as DiffId;
  const c1 = chainIdOf(null, d1);
  const c2 = chainIdOf(c1, d2);
  const now = new Date().toISOString();
  const containerId = 'c'.repeat(64) as ContainerId;
  // The old layout, written as the previous version left it.
  const db = Db.open(join(root, 'shibafu.db'));
  db.immediate(() => {
    const l1 = insertSealedLayer(db, { chainId: c1, diffId: d1, parentId: null, size: 0, files: 1, blobDigest: null, blobSize: null, mediaType: null, source: 'tar', tarSplit: false, created: now });
    const l2 = insertSealedLayer(db, { chainId: c2, diffId: d2, parentId: l1, size: 0, files: 1, blobDigest: null, blobSize: null, mediaType: null, source: 'tar', tarSplit: false, created: now });
    upsertName(db, 'l1', l1, now);
    upsertName(db, 'l2', l2, now);
    const o = insertOpenLayer(db, { parentId: l2, openToken: 'f'.repeat(32), created: now });
    upsertName(db, 'wip', o, now);
    insertContainer(db, { id: containerId, name: 'old', command: ['/bin/true'], config: JSON.stringify(containerConfig({ args: ['/bin/true'] })), created: now, layerIds: [l1, l2] });
  });
  db.close();
  const write = (path: string, content: string): void => { mkdirSync(join(path, '..'), { recursive: true }); writeFileSync(path, content); };
  write(join(root, 'layers', c1.slice(7), 'diff', 'a'), 'from l1\n');
  write(join(root, 'layers', c2.slice(7), 'diff', 'b'), 'from l2\n');
  write(join(root, 'open', 'f'.repeat(32), 'diff', 'c'), 'open\n');
  write(join(root, 'containers', containerId, 'upper', 'u'), 'container\n');
  mkdirSync(join(root, 'containers', containerId, 'work'));
  mkdirSync(join(root, 'containers', containerId, 'merged'));
  mkdirSync(join(root, 'containers', containerId, 'bundle'));

  const store = openStore({ root });
  try {
    assert.equal(store.context.driver, 'overlay');
    assert.equal(readFileSync(join(store.inspectLayer('l1').path, 'a'), 'utf8'), 'from l1\n');
    assert.equal(readFileSync(join(store.inspectLayer('l2').path, 'b'), 'utf8'), 'from l2\n');
    assert.equal(readFileSync(join(store.inspectLayer('wip').path, 'c'), 'utf8'), 'open\n');
    assert.equal(store.inspectLayer('l2').path.startsWith(join(root, 'snapshots')), true);
    const kinds: string[] = [];
    store.context.snapshots.walk((s) => kinds.push(`${s.name.startsWith('sha256:') ? s.name.slice(7, 9) : s.name.slice(0, 10)}:${s.kind}:${s.parent?.slice(7, 9) ?? '-'}`));
    assert.deepEqual(kinds.sort(), [`${c1.slice(7, 9)}:committed:-`, `${c2.slice(7, 9)}:committed:${c1.slice(7, 9)}`, 'container-:active:' + c2.slice(7, 9), 'open-fffff:active:' + c2.slice(7, 9)].sort());
    // The old dirs are gone; the layers' metadata dirs stay.
    assert.equal(existsSync(join(root, 'open')), false);
    assert.equal(existsSync(join(root, 'layers', c1.slice(7), 'diff')), false);
    assert.equal(existsSync(join(root, 'containers', containerId, 'upper')), false);
    // Everything works as before: a mount of the stack, the open layer sealed, the container's changes.
    const target = join(base, 'mnt');
    await store.mountLayers({ layers: ['l2'], target });
    try {
      assert.deepEqual(readdirSync(target).sort(), ['a', 'b']);
    } finally {
      store.unmount(target);
    }
    const sealed = await store.sealLayer('wip');
    assert.equal(sealed.layer.state, 'sealed');
    const diff = await (await containersOf(store)).layers('old');
    assert.equal(readFileSync(join(diff.upper, 'u'), 'utf8'), 'container\n');
  } finally {
    store.close();
  }
  // Done once: the next open has nothing to move.
  const again = openStore({ root });
  try {
    assert.equal(readFileSync(join(again.inspectLayer('l1').path, 'a'), 'utf8'), 'from l1\n');
  } finally {
    again.close();
  }
});
