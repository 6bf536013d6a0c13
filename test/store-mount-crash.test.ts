/**
 * The mount protocol's failure windows, on the real kernel: a process killed after recording a
 * mount and before making it, or after making it and before marking it mounted, leaves nothing
 * once the store is next opened (the sweep finds the dead owner's `tmp/mount-<id>` and undoes the
 * half-made mount); a layer removed between reading the stack and recording the mount is refused
 * by the record itself (its foreign keys), with nothing mounted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isShibafuError } from '../src/errors.js';
import { systemMounter } from '../src/overlay/system-mounter.js';
import { openStore, type Store } from '../src/store/store.js';
import { tarOf } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';

/**
 * Mounts `l2` with a mounter that SIGKILLs the process just before (`before`) or just after
 * (`after`) the kernel mount: the two windows between the record's commit and its 'mounted' mark.
 */
const CHILD = `
const [storeUrl, mounterUrl, root, target, when, mode] = process.argv.slice(1);
const { openStore } = await import(storeUrl);
const { systemMounter } = await import(mounterUrl);
const real = systemMounter({ emptyDir: root + '/empty' });
const die = () => process.kill(process.pid, 'SIGKILL');
const mounter = { ...real, mount(mounts, at) {
  if (when === 'before') die();
  real.mount(mounts, at);
  die();
} };
const store = openStore({ root, mounter });
await store.mountLayers({ layers: ['l2'], target, writable: mode === 'rw' });
`;

/** The snapshots of `layer mount`s (views and uppers) the store holds. */
function mountSnapshots(store: Store): string[] {
  const keys: string[] = [];
  store.context.snapshots.walk((s) => { if (s.name.startsWith('mount-')) keys.push(s.name); });
  return keys;
}

function mountedAt(target: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === target);
}

async function chain(ts: TempStore): Promise<void> {
  await ts.store.createLayer({ name: 'l1', source: ts.input('l1.tar', tarOf((t) => t.file('f', '1'))) });
  await ts.store.createLayer({ name: 'l2', source: ts.input('l2.tar', tarOf((t) => t.file('f', '2'))), parent: 'l1' });
}

describe('a mount interrupted between its record and its end leaves nothing', { skip: needsRoot }, () => {
  for (const when of ['before', 'after'] as const) {
    for (const mode of ['ro', 'rw'] as const) {
      test(`SIGKILL ${when} the kernel mount (${mode}): the next open unmounts, drops the record and the upper`, async () => {
        const ts = makeTempStore();
        await chain(ts);
        ts.store.close();
        const target = join(ts.base, 'target');
        const url = (p: string): string => new URL(p, import.meta.url).href;
        const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, url('../src/store/store.js'), url('../src/overlay/system-mounter.js'), ts.root, target, when, mode], { encoding: 'utf8' });
        assert.equal(r.signal, 'SIGKILL', r.stderr);
        assert.equal(mountedAt(target), when === 'after', 'the kill came where intended');
        const [staging] = readdirSync(join(ts.root, 'tmp'));
        assert.match(staging ?? '', /^mount-[0-9a-f]{16}$/);

        const store = ts.reopen();
        assert.deepEqual(store.swept, [{ path: join(ts.root, 'tmp', staging!), kind: 'mount', action: 'removed' }]);
        assert.equal(mountedAt(target), false);
        assert.deepEqual(store.listMounts(), []);
        assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
        assert.deepEqual(mountSnapshots(store), [], 'no snapshot (no upper) left behind');
        store.removeLayer('l2');
        assert.deepEqual(ts.reopen().swept, []);
      });
    }
  }

  for (const writable of [false, true]) {
    test(`a layer removed after the stack was read (${writable ? 'rw' : 'ro'}): LAYER_NOT_FOUND from the record, nothing left`, async () => {
      const ts = makeTempStore();
      await ts.store.createLayer({ name: 'victim', source: ts.input('v.tar', tarOf((t) => t.file('v', 'v'))) });
      const real = systemMounter({ emptyDir: join(ts.root, 'empty') });
      let removed = false;
      // The API choice is made after the stack is read and before the record: the window a
      // concurrent `layer rm` would use.
      const racer = openStore({
        root: ts.root,
        mounter: { ...real, overlayApi: () => { if (!removed) { removed = true; ts.store.removeLayer('victim'); } return real.overlayApi(); } },
      });
      const target = join(ts.base, 'target');
      try {
        await assert.rejects(racer.mountLayers({ layers: ['victim'], target, writable }), (err: unknown) => {
          assert.ok(isShibafuError(err, 'LAYER_NOT_FOUND'));
          assert.match(err.message, /a layer of the stack was removed meanwhile/);
          return true;
        });
        assert.ok(removed);
        assert.equal(mountedAt(target), false);
        assert.deepEqual(racer.listMounts(), []);
        assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
        assert.deepEqual(mountSnapshots(racer), [], 'no snapshot (no upper) left behind');
        assert.ok(existsSync(target));
      } finally {
        racer.close();
      }
    });
  }
});
