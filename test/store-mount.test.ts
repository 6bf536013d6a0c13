/**
 * MountLayers through the store (records, stacks, both mount APIs) on the real kernel: stacks of
 * 1, 2, 50 and 500 layers with correct priority, 501 refused before any mount, a mounted layer
 * that cannot be removed, idempotent umount, stale records.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isShibafuError } from '../src/errors.js';
import { tarOf } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';

describe('layer mount through the store', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  const DEPTH = 501;

  test('a chain of 501 layers, each with its own file and the shared file f', async () => {
    for (let i = 1; i <= DEPTH; i++) {
      const tar = ts.input(`l${i}.tar`, tarOf((t) => t.file('f', `layer ${i}\n`).file(`only-${i}`, `${i}`)));
      await ts.store.createLayer({ name: `l${i}`, source: tar, ...(i > 1 ? { parent: `l${i - 1}` } : {}) });
    }
    assert.equal(ts.store.inspectLayer(`l${DEPTH}`).depth, DEPTH);
  });

  for (const api of ['new', 'legacy'] as const) {
    for (const depth of [1, 2, 50, 500]) {
      test(`${depth} layers with the ${api} mount API: the top layer wins, every layer shows`, async () => {
        const target = join(ts.base, `m-${api}-${depth}`);
        const view = await ts.store.mountLayers({ layers: [`l${depth}`], target, api });
        try {
          assert.equal(view.layers.length, depth);
          assert.equal(view.api, api);
          assert.equal(readFileSync(join(target, 'f'), 'utf8'), `layer ${depth}\n`);
          const names = readdirSync(target).filter((n) => n.startsWith('only-'));
          assert.equal(names.length, depth);
          assert.equal(readFileSync(join(target, 'only-1'), 'utf8'), '1');
          assert.deepEqual(ts.store.listMounts().map((m) => [m.target, m.mounted, m.state]), [[target, true, 'mounted']]);
        } finally {
          assert.deepEqual(ts.store.unmount(target), { unmounted: true, recorded: true });
        }
        assert.deepEqual(ts.store.listMounts(), []);
      });
    }
  }

  test('501 layers fail with STACK_TOO_DEEP naming the depth and the limit, before any mount', async () => {
    const target = join(ts.base, 'm-501');
    await assert.rejects(ts.store.mountLayers({ layers: [`l${DEPTH}`], target }), (err: unknown) => {
      assert.ok(isShibafuError(err, 'STACK_TOO_DEEP'));
      assert.match(err.message, /stack of 501 layers: the kernel mounts at most 500 lower layers/);
      assert.ok(err.hint !== undefined && err.hint.length > 0);
      return true;
    });
    assert.deepEqual(ts.store.listMounts(), []);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(target));
  });

  test('several chains stack in the order given; a mounted layer cannot be removed; umount is idempotent', async () => {
    const other = ts.input('other.tar', tarOf((t) => t.file('f', 'other\n').file('o', 'o')));
    await ts.store.createLayer({ name: 'other', source: other });
    const target = join(ts.base, 'm-chains');
    const view = await ts.store.mountLayers({ layers: ['l2', 'other'], target, writable: true });
    assert.deepEqual(view.layers.map((l) => l.names[0]), ['l1', 'l2', 'other']);
    assert.equal(readFileSync(join(target, 'f'), 'utf8'), 'other\n');
    assert.throws(() => ts.store.removeLayer('other'), (err: unknown) => isShibafuError(err, 'LAYER_IN_USE') && /1 mount uses it/.test(err.message));
    assert.ok(view.upper !== null && existsSync(view.upper));
    assert.deepEqual(ts.store.unmount(target), { unmounted: true, recorded: true });
    assert.ok(!existsSync(view.upper));
    assert.deepEqual(ts.store.unmount(target), { unmounted: false, recorded: false });
    ts.store.removeLayer('other');
  });

  test('the view of a mount just made names each layer as `layer mounts` does (several names sorted)', async () => {
    ts.store.tagLayer('l1', 'a-first');
    const target = join(ts.base, 'm-names');
    const view = await ts.store.mountLayers({ layers: ['l2'], target });
    try {
      assert.deepEqual(view.layers.map((l) => l.names), [['a-first', 'l1'], ['l2']]);
      assert.deepEqual(ts.store.listMounts().map((m) => m.layers), [view.layers]);
    } finally {
      ts.store.unmount(target);
      ts.store.untag('a-first');
    }
  });

  test('legacy mount(2): the lowers go by their snapshot ids, relative to the snapshots dir, and a layer made again mounts as itself', async () => {
    const top = ts.input('legacy-top.tar', tarOf((t) => t.file('f', 'legacy top\n')));
    await ts.store.createLayer({ name: 'legacy-top', source: top, parent: 'l2' });
    const target = join(ts.base, 'm-legacy');
    const mountAndRead = async (): Promise<string> => {
      const view = await ts.store.mountLayers({ layers: ['legacy-top'], target, api: 'legacy' });
      assert.equal(view.api, 'legacy');
      try {
        // The kernel shows the lowerdir option as it was given: short names, no store path.
        const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target) ?? '';
        assert.match(line, /lowerdir=\d+:\d+:\d+[,\s]/);
        return readFileSync(join(target, 'f'), 'utf8');
      } finally {
        ts.store.unmount(target);
      }
    };
    assert.equal(await mountAndRead(), 'legacy top\n');
    ts.store.removeLayer('legacy-top');
    const again = ts.input('legacy-again.tar', tarOf((t) => t.file('f', 'legacy again\n')));
    await ts.store.createLayer({ name: 'legacy-top', source: again, parent: 'l2' });
    assert.equal(await mountAndRead(), 'legacy again\n');
  });

  test('a record whose mount vanished (umount behind shibafu\'s back) is stale and pruned', async () => {
    const target = join(ts.base, 'm-stale');
    mkdirSync(target, { recursive: true });
    await ts.store.mountLayers({ layers: ['l1'], target });
    execFileSync('umount', [target]);
    assert.deepEqual(ts.store.listMounts().map((m) => m.mounted), [false]);
    // l2 depends on l1 as a child, so remove the chain's tip instead: only the stale record stood in the way of l1.
    const tip = ts.input('tip.tar', tarOf((t) => t.file('x', 'x')));
    await ts.store.createLayer({ name: 'tip', source: tip, parent: 'l1' });
    await ts.store.mountLayers({ layers: ['tip'], target: join(ts.base, 'm-tip') });
    execFileSync('umount', [join(ts.base, 'm-tip')]);
    ts.store.removeLayer('tip');
    assert.deepEqual(ts.store.listMounts().map((m) => m.target), [target]);
  });
});
