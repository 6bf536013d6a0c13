/**
 * Mount records (migration 6): the stack in the row, the tops pinned by mount_layers. No root:
 * SQLite only.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Db } from './db.js';
import { allMounts, insertMount, mountById, mountsUsing, type MountRow } from './layer-queries.js';
import { layerUsers } from './layer-users.js';
import { MIGRATIONS } from './schema.js';

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-mount-records-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'shibafu.db');
}

/** Three sealed layers, 1 <- 2 <- 3, and layer 4 on nothing, written with raw SQL. */
function addLayers(db: Database.Database): void {
  const add = db.prepare(`INSERT INTO layers (id, chain_id, parent_id, state, source, created) VALUES (?, ?, ?, 'sealed', 'tar', 'now')`);
  for (const [id, parent] of [[1, null], [2, 1], [3, 2], [4, null]] as const) add.run(id, `sha256:${String(id).repeat(64)}`, parent);
}

test('migration 6 moves each recorded stack into its row; the old rows stay as pins', (t) => {
  const path = scratch(t);
  const raw = new Database(path);
  raw.pragma('foreign_keys = ON');
  for (const m of MIGRATIONS.slice(0, 5)) raw.exec(m);
  raw.pragma('user_version = 5');
  addLayers(raw);
  raw.prepare(`INSERT INTO mounts (id, target, writable, api, state, created) VALUES ('m1', '/mnt/a', 0, 'new', 'mounted', 'now')`).run();
  raw.prepare(`INSERT INTO mounts (id, target, writable, api, state, created) VALUES ('m2', '/mnt/b', 1, 'new', 'mounted', 'now')`).run();
  for (const [position, layer] of [[0, 1], [1, 2], [2, 3]]) raw.prepare(`INSERT INTO mount_layers VALUES ('m1', ?, ?)`).run(position, layer);
  raw.prepare(`INSERT INTO mount_layers VALUES ('m2', 0, 4)`).run();
  raw.close();

  const db = Db.open(path);
  try {
    assert.deepEqual(allMounts(db).map((m) => [m.id, m.layerIds]), [['m1', [1, 2, 3]], ['m2', [4]]]);
    assert.deepEqual(mountsUsing(db, 2).map((m) => m.id), ['m1']);
    assert.deepEqual(layerUsers(db, 1).mounts, [{ id: 'm1', target: '/mnt/a' }]);
    assert.throws(() => db.immediate(() => db.stmt('DELETE FROM layers WHERE id = 2').run()), { code: 'INTERNAL' }, 'an old record\'s rows still pin every layer of its stack');
  } finally {
    db.close();
  }
});

test('a new record keeps its stack in its row and pins the top of each chain only', (t) => {
  const db = Db.open(scratch(t));
  try {
    db.immediate(() => db.stmt(`INSERT INTO layers (id, chain_id, parent_id, state, source, created) VALUES (1, 'a', NULL, 'sealed', 'tar', 'now'), (2, 'b', 1, 'sealed', 'tar', 'now'), (3, 'c', 2, 'sealed', 'tar', 'now'), (4, 'd', NULL, 'sealed', 'tar', 'now')`).run());
    const row: MountRow = { id: 'm1', target: '/mnt/a', writable: false, api: 'new', state: 'mounting', created: 'now', layerIds: [4, 1, 2, 3] };
    assert.equal(db.immediate(() => insertMount(db, row, [0, 3])), true);
    assert.deepEqual(mountById(db, 'm1')?.layerIds, [4, 1, 2, 3]);
    assert.deepEqual(db.stmt('SELECT position, layer_id FROM mount_layers ORDER BY position').all(), [{ position: 0, layer_id: 4 }, { position: 3, layer_id: 3 }]);
    assert.deepEqual([1, 2, 3, 4].map((id) => mountsUsing(db, id).length), [1, 1, 1, 1], 'every layer of the stack shows the mount');
    assert.deepEqual(layerUsers(db, 2).mounts, [{ id: 'm1', target: '/mnt/a' }]);
    assert.throws(() => db.immediate(() => db.stmt('DELETE FROM layers WHERE id = 3').run()), { code: 'INTERNAL' }, 'a pinned top cannot go');
    assert.throws(() => db.immediate(() => db.stmt('DELETE FROM layers WHERE id = 1').run()), { code: 'INTERNAL' }, 'nor a layer under it, which its child pins');

    const gone: MountRow = { ...row, id: 'm2', target: '/mnt/b', layerIds: [1, 2, 9] };
    assert.equal(db.immediate(() => insertMount(db, gone, [2])), false, 'a top that does not exist: refused by the foreign key');
  } finally {
    db.close();
  }
});
