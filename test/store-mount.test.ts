/**
 * MountLayers through the store (records, stacks, both mount APIs) on the real kernel: stacks of
 * 1, 2, 50 and 500 layers with correct priority, 501 refused before any mount, a mounted layer
 * that cannot be removed, idempotent umount, stale records.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
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

  test('legacy mount(2) links: made at the first legacy mount, mended when missing, removed with their layer', async () => {
    const layout = ts.store.context.layout;
    const linkOf = (ref: string): string => layout.link(ts.store.resolve(ref).id.toString(36));
    const top = ts.input('links-top.tar', tarOf((t) => t.file('f', 'links top\n')));
    await ts.store.createLayer({ name: 'links-top', source: top, parent: 'l2' });
    const target = join(ts.base, 'm-links');
    const mountAndRead = async (): Promise<string> => {
      await ts.store.mountLayers({ layers: ['links-top'], target, api: 'legacy' });
      try {
        return readFileSync(join(target, 'f'), 'utf8');
      } finally {
        ts.store.unmount(target);
      }
    };
    assert.equal(await mountAndRead(), 'links top\n');
    const hexOf = (ref: string): string => (ts.store.inspectLayer(ref).chainId as string).slice('sha256:'.length);
    for (const ref of ['l1', 'l2', 'links-top']) assert.equal(readlinkSync(linkOf(ref)), `../layers/${hexOf(ref)}/diff`);
    // Links are used unread; one deleted behind shibafu's back makes the mount fail once, and be mended.
    rmSync(linkOf('l1'));
    assert.equal(await mountAndRead(), 'links top\n');
    assert.equal(readlinkSync(linkOf('l1')), `../layers/${hexOf('l1')}/diff`);
    // The link goes with its layer: a later layer that gets the same row id cannot find it.
    const link = linkOf('links-top');
    ts.store.removeLayer('links-top');
    assert.ok(!existsSync(link) && lstatOrNull(link) === null);
    const again = ts.input('links-again.tar', tarOf((t) => t.file('f', 'links again\n')));
    await ts.store.createLayer({ name: 'links-top', source: again, parent: 'l2' });
    assert.equal(await mountAndRead(), 'links again\n');
    ts.store.removeLayer('links-top');
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

function lstatOrNull(path: string): ReturnType<typeof lstatSync> | null {
  return lstatSync(path, { throwIfNoEntry: false }) ?? null;
}
