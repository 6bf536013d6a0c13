/**
 * `node dist/bench/mount-store-profile.js ROOT [--old]`: where a 500-layer `layer mount` + umount
 * through the store spends its time (the snapshotter's view and its removal, the kernel's mount
 * and umount, the store's transactions), as averages of 20 rounds after 10 warm-up rounds. ROOT
 * gets a chain of 500 one-file layers the first time. Run it from two builds on one file system
 * (a journaled ext4 loop fs, as the bench's) for a side-by-side figure; `--old` skips the
 * snapshotter's phases, for a build that has none.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../src/index.js';
import { tarOf } from '../test/helpers/tar-builder.js';

const [root, flag] = process.argv.slice(2);
if (root === undefined) {
  console.error('usage: node dist/bench/mount-store-profile.js ROOT [--old]');
  process.exit(2);
}
const store = openStore({ root });
if (store.listLayers().length < 500) {
  const input = join(root, '..', 'profile-layer.tar');
  let parent: string | undefined;
  for (let i = 0; i < 500; i++) {
    writeFileSync(input, tarOf((t) => t.file(`f${i}`, `${i}`)));
    await store.createLayer({ name: `l${i}`, source: input, ...(parent !== undefined ? { parent } : {}) });
    parent = `l${i}`;
  }
}
type Timed = { label: string; total: number };
const timers: Timed[] = [];
/** Wraps obj[name] to add up its time (the same object: the store calls it through the context). */
function time(obj: object, name: string, label: string): void {
  const o = obj as Record<string, (...args: unknown[]) => unknown>;
  const f = o[name]!.bind(obj);
  const t: Timed = { label, total: 0 };
  timers.push(t);
  o[name] = (...args: unknown[]) => {
    const start = performance.now();
    try { return f(...args); } finally { t.total += performance.now() - start; }
  };
}
const ctx = store.context as unknown as Record<string, object>;
if (flag !== '--old') {
  time(ctx.snapshots as object, 'view', 'view');
  time(ctx.snapshots as object, 'remove', 'view removal');
}
time(ctx.mounter as object, 'mount', 'kernel mount');
time(ctx.mounter as object, 'unmount', 'kernel umount');
const target = join(root, '..', 'profile-mnt');
mkdirSync(target, { recursive: true });
let total = 0;
for (let i = 0; i < 30; i++) {
  if (i === 10) for (const t of timers) t.total = 0;
  const start = performance.now();
  await store.mountLayers({ layers: ['l499'], target });
  store.unmount(target);
  if (i >= 10) total += performance.now() - start;
}
console.log(`mount + umount of 500 layers: ${(total / 20).toFixed(2)} ms`);
for (const t of timers) console.log(`  ${t.label}: ${(t.total / 20).toFixed(2)} ms`);
store.close();
