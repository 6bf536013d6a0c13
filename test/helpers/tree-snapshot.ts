/**
 * Snapshots of directory trees and of a store, to assert that a failed import changed nothing:
 * not the store (rows, directories, staging), not the files next to it.
 */
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../../src/store/store.js';

/** One line per node: type, mode, owner, size, mtime, link target; keyed by relative path. */
export type TreeSnapshot = Record<string, string>;

/**
 * Every node under `dir` (which must exist), except relative paths `skip` says to leave out.
 *
 * @example
 * const before = snapshotTree(canary); ...; assert.deepEqual(snapshotTree(canary), before);
 */
export function snapshotTree(dir: string, skip: (rel: string) => boolean = () => false): TreeSnapshot {
  const out: TreeSnapshot = {};
  const walk = (rel: string): void => {
    const abs = rel === '' ? dir : join(dir, rel);
    const st = lstatSync(abs);
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 'p';
    // Directory sizes and mtimes are the tell-tale of a created-then-removed child; keep them.
    out[rel === '' ? '.' : rel] = [
      type, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`, st.size, st.mtimeMs, st.nlink,
      type === 'l' ? readlinkSync(abs) : '',
    ].join(' ');
    if (type === 'd') for (const name of readdirSync(abs).sort()) if (!skip(rel === '' ? name : `${rel}/${name}`)) walk(rel === '' ? name : `${rel}/${name}`);
  };
  walk('');
  return out;
}

/** The database's own files change on every open (WAL, shm); everything else must not. */
const STAGING_AREAS = ['snapshots', 'snapshots/work'];

const DB_FILES = /^shibafu\.db(-wal|-shm|-journal)?$/;

export interface StoreSnapshot {
  readonly layers: string;
  readonly tree: TreeSnapshot;
}

/**
 * The rows (as `listLayers()` shows them) and every file of the store except the database and
 * `tmp/` (staging comes and goes; that it is empty is asserted on its own). The root's own
 * mtime moves whenever SQLite recreates its -wal/-shm files, so only its mode and owner count.
 */
export function snapshotStore(store: Store): StoreSnapshot {
  const tree = snapshotTree(store.root, (rel) => DB_FILES.test(rel) || rel === 'tmp');
  const rootStat = lstatSync(store.root);
  tree['.'] = `d ${(rootStat.mode & 0o7777).toString(8)} ${rootStat.uid}:${rootStat.gid}`;
  // The driver builds a snapshot's dirs under its own root (staged-<token>, work/staged-<token>)
  // and renames them into place: these two dirs are its staging area, as tmp/ is the store's, so
  // only their mode and owner count (what they hold is compared entry by entry).
  for (const dir of STAGING_AREAS) {
    const line = tree[dir];
    if (line !== undefined) tree[dir] = line.split(' ').slice(0, 3).join(' ');
  }
  return { layers: JSON.stringify(store.listLayers()), tree };
}

/**
 * Asserts the store is exactly as `before`: the same rows, the same files and directories, and
 * an empty `tmp/`, both right away (the failed operation cleaned up after itself) and after the
 * store is opened again (nothing for the sweeper to find either).
 */
export function assertStoreUnchanged(store: Store, before: StoreSnapshot, reopen: () => Store): void {
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), [], 'tmp/ must be empty after a failed operation');
  const now = snapshotStore(store);
  assert.equal(now.layers, before.layers, 'the layer rows changed');
  assert.deepEqual(now.tree, before.tree, 'the store tree changed');
  const again = reopen();
  assert.deepEqual(again.swept, [], 'the next open found leftovers to sweep');
  assert.deepEqual(readdirSync(join(again.root, 'tmp')), []);
  assert.equal(JSON.stringify(again.listLayers()), before.layers);
}
