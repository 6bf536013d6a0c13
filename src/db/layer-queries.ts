/**
 * Typed queries over layers, names and mounts. Only this folder speaks SQL; callers get plain rows
 * with branded ids.
 */
import type { ChainId, DiffId, Digest } from '../ids.js';
import type { Db } from './db.js';

export type LayerState = 'open' | 'sealed';
export type LayerSource = 'tar' | 'dir' | 'open' | 'commit' | 'diff';

export interface LayerRow {
  readonly id: number;
  readonly chainId: ChainId | null;
  readonly diffId: DiffId | null;
  readonly parentId: number | null;
  readonly state: LayerState;
  readonly openToken: string | null;
  readonly size: number;
  readonly files: number;
  readonly blobDigest: Digest | null;
  readonly blobSize: number | null;
  readonly mediaType: string | null;
  readonly source: LayerSource;
  readonly tarSplit: boolean;
  readonly created: string;
  readonly sealed: string | null;
}

interface RawLayer {
  id: number; chain_id: string | null; diff_id: string | null; parent_id: number | null; state: string;
  open_token: string | null; size: number; files: number; blob_digest: string | null; blob_size: number | null;
  media_type: string | null; source: string; tar_split: number; created: string; sealed: string | null;
}

const LAYER_COLUMNS = 'id, chain_id, diff_id, parent_id, state, open_token, size, files, blob_digest, blob_size, media_type, source, tar_split, created, sealed';

function toLayer(r: RawLayer): LayerRow {
  return {
    id: r.id,
    chainId: r.chain_id as ChainId | null,
    diffId: r.diff_id as DiffId | null,
    parentId: r.parent_id,
    state: r.state as LayerState,
    openToken: r.open_token,
    size: r.size,
    files: r.files,
    blobDigest: r.blob_digest as Digest | null,
    blobSize: r.blob_size,
    mediaType: r.media_type,
    source: r.source as LayerSource,
    tarSplit: r.tar_split === 1,
    created: r.created,
    sealed: r.sealed,
  };
}

export interface NewSealedLayer {
  chainId: ChainId; diffId: DiffId; parentId: number | null; size: number; files: number;
  blobDigest: Digest | null; blobSize: number | null; mediaType: string | null; source: LayerSource;
  tarSplit: boolean; created: string;
}

/** Inserts a sealed layer row; returns its id. */
export function insertSealedLayer(db: Db, l: NewSealedLayer): number {
  const info = db.stmt(`INSERT INTO layers (chain_id, diff_id, parent_id, state, size, files, blob_digest, blob_size, media_type, source, tar_split, created, sealed)
    VALUES (?, ?, ?, 'sealed', ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
    l.chainId, l.diffId, l.parentId, l.size, l.files, l.blobDigest, l.blobSize, l.mediaType, l.source, l.tarSplit ? 1 : 0, l.created, l.created);
  return Number(info.lastInsertRowid);
}

/** Inserts an open layer row (no chainId until sealed). */
export function insertOpenLayer(db: Db, l: { parentId: number | null; openToken: string; created: string }): number {
  const info = db.stmt(`INSERT INTO layers (parent_id, state, open_token, source, created) VALUES (?, 'open', ?, 'open', ?)`)
    .run(l.parentId, l.openToken, l.created);
  return Number(info.lastInsertRowid);
}

/** Turns an open layer into a sealed one. */
export function markSealed(db: Db, id: number, s: { chainId: ChainId; diffId: DiffId; size: number; files: number; sealed: string }): void {
  db.stmt(`UPDATE layers SET state = 'sealed', chain_id = ?, diff_id = ?, size = ?, files = ?, open_token = NULL, sealed = ? WHERE id = ? AND state = 'open'`)
    .run(s.chainId, s.diffId, s.size, s.files, s.sealed, id);
}

export function layerById(db: Db, id: number): LayerRow | undefined {
  const r = db.stmt(`SELECT ${LAYER_COLUMNS} FROM layers WHERE id = ?`).get(id) as RawLayer | undefined;
  return r === undefined ? undefined : toLayer(r);
}

export function layerByChainId(db: Db, chainId: ChainId): LayerRow | undefined {
  const r = db.stmt(`SELECT ${LAYER_COLUMNS} FROM layers WHERE chain_id = ?`).get(chainId) as RawLayer | undefined;
  return r === undefined ? undefined : toLayer(r);
}

/** Layers whose chainId (hex part) or diffId starts with `hexPrefix` (at most `limit`). */
export function layersByPrefix(db: Db, hexPrefix: string, limit = 3): LayerRow[] {
  const like = `sha256:${hexPrefix.replace(/[%_]/g, '')}%`;
  const rows = db.stmt(`SELECT ${LAYER_COLUMNS} FROM layers WHERE chain_id LIKE ? LIMIT ?`).all(like, limit) as RawLayer[];
  return rows.map(toLayer);
}

export function layerByName(db: Db, name: string): LayerRow | undefined {
  const r = db.stmt(`SELECT ${LAYER_COLUMNS.split(', ').map((c) => `l.${c}`).join(', ')} FROM names n JOIN layers l ON l.id = n.layer_id WHERE n.name = ?`)
    .get(name) as RawLayer | undefined;
  return r === undefined ? undefined : toLayer(r);
}

/** What `layer list` shows of a layer: its own columns, its parent's chainId and its names. */
export interface LayerSummaryRow {
  readonly chainId: ChainId | null;
  readonly parent: ChainId | null;
  readonly names: string[];
  readonly state: LayerState;
  readonly size: number;
  readonly files: number;
  readonly created: string;
}

/**
 * Every layer as `layer list` shows it, in one query of only the columns it shows: with 1,000
 * layers, reading whole rows and then every name apart cost ~8 ms more of a ~135 ms `layer list`
 * (hyperfine, side by side). Names are joined with ',', which the name alphabet excludes.
 */
export function layerSummaries(db: Db): LayerSummaryRow[] {
  const rows = db.stmt(`SELECT l.chain_id AS chainId, p.chain_id AS parent, l.state, l.size, l.files, l.created,
      (SELECT group_concat(name, ',') FROM (SELECT name FROM names WHERE layer_id = l.id ORDER BY name)) AS names
    FROM layers l LEFT JOIN layers p ON p.id = l.parent_id ORDER BY l.id`).all() as (Omit<LayerSummaryRow, 'names'> & { names: string | null })[];
  return rows.map((r) => ({ ...r, names: r.names === null ? [] : r.names.split(',') }));
}

export function namesOf(db: Db, layerId: number): string[] {
  return (db.stmt('SELECT name FROM names WHERE layer_id = ? ORDER BY name').all(layerId) as { name: string }[]).map((r) => r.name);
}

export function childrenOf(db: Db, layerId: number): LayerRow[] {
  return (db.stmt(`SELECT ${LAYER_COLUMNS} FROM layers WHERE parent_id = ? ORDER BY id`).all(layerId) as RawLayer[]).map(toLayer);
}

export function nameTarget(db: Db, name: string): number | undefined {
  const r = db.stmt('SELECT layer_id FROM names WHERE name = ?').get(name) as { layer_id: number } | undefined;
  return r?.layer_id;
}

/** Points `name` at `layerId`, creating or moving it. */
export function upsertName(db: Db, name: string, layerId: number, created: string): void {
  db.stmt('INSERT INTO names (name, layer_id, created) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET layer_id = excluded.layer_id')
    .run(name, layerId, created);
}

export function deleteName(db: Db, name: string): boolean {
  return db.stmt('DELETE FROM names WHERE name = ?').run(name).changes > 0;
}

export function deleteNamesOf(db: Db, layerId: number): void {
  db.stmt('DELETE FROM names WHERE layer_id = ?').run(layerId);
}

export function deleteLayerRow(db: Db, layerId: number): void {
  db.stmt('DELETE FROM layers WHERE id = ?').run(layerId);
}

export interface MountRow {
  readonly id: string;
  readonly target: string;
  readonly writable: boolean;
  readonly api: string;
  readonly state: 'mounting' | 'mounted';
  readonly created: string;
  /** Layer ids bottom first. */
  readonly layerIds: number[];
}

/**
 * Inserts a mount record: its stack as one JSON array in its row (migration 6), and a
 * mount_layers row for the top of each chain (`tops`: positions in the stack), whose foreign key
 * pins it. Returns false, inserting nothing, when a top no longer exists: the foreign key is the
 * existence check, made under the same write lock as the insert, and a top's existence is its
 * whole chain's (every layer below it is its ancestor, pinned by layers.parent_id).
 */
export function insertMount(db: Db, m: MountRow, tops: readonly number[]): boolean {
  db.stmt('INSERT INTO mounts (id, target, writable, api, state, created, stack) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(m.id, m.target, m.writable ? 1 : 0, m.api, m.state, m.created, JSON.stringify(m.layerIds));
  try {
    const pin = db.stmt('INSERT INTO mount_layers (mount_id, position, layer_id) VALUES (?, ?, ?)');
    for (const position of tops) pin.run(m.id, position, m.layerIds[position]);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
    throw err;
  }
  return true;
}

interface RawMount { id: string; target: string; writable: number; api: string; state: string; created: string; stack: string }

const MOUNT_COLUMNS = 'id, target, writable, api, state, created, stack';

function toMount(r: RawMount): MountRow {
  return { id: r.id, target: r.target, writable: r.writable === 1, api: r.api, state: r.state as MountRow['state'], created: r.created, layerIds: JSON.parse(r.stack) as number[] };
}

/** The id of the mount recorded at `target`, without its stack (what an unmount needs). */
export function mountIdByTarget(db: Db, target: string): string | undefined {
  const r = db.stmt('SELECT id FROM mounts WHERE target = ?').get(target) as { id: string } | undefined;
  return r?.id;
}

export function allMounts(db: Db): MountRow[] {
  return (db.stmt(`SELECT ${MOUNT_COLUMNS} FROM mounts ORDER BY created`).all() as RawMount[]).map(toMount);
}

/** Mounts whose stack includes the layer (a scan of every record's stack: mounts are few). */
export function mountsUsing(db: Db, layerId: number): MountRow[] {
  const rows = db.stmt(`SELECT ${MOUNT_COLUMNS} FROM mounts m WHERE EXISTS (SELECT 1 FROM json_each(m.stack) WHERE value = ?)`)
    .all(layerId) as RawMount[];
  return rows.map(toMount);
}

export function deleteMount(db: Db, mountId: string): void {
  db.stmt('DELETE FROM mounts WHERE id = ?').run(mountId);
}

export function openTokenExists(db: Db, openToken: string): boolean {
  return db.stmt('SELECT 1 FROM layers WHERE open_token = ?').get(openToken) !== undefined;
}

export function layerByOpenToken(db: Db, openToken: string): LayerRow | undefined {
  const r = db.stmt(`SELECT ${LAYER_COLUMNS} FROM layers WHERE open_token = ?`).get(openToken) as RawLayer | undefined;
  return r === undefined ? undefined : toLayer(r);
}

export function mountExists(db: Db, mountId: string): boolean {
  return db.stmt('SELECT 1 FROM mounts WHERE id = ?').get(mountId) !== undefined;
}

export function mountById(db: Db, mountId: string): MountRow | undefined {
  const r = db.stmt(`SELECT ${MOUNT_COLUMNS} FROM mounts WHERE id = ?`).get(mountId) as RawMount | undefined;
  return r === undefined ? undefined : toMount(r);
}

/** The mount(2) returned: the record now describes a real mount. */
export function markMounted(db: Db, mountId: string): void {
  db.stmt(`UPDATE mounts SET state = 'mounted' WHERE id = ?`).run(mountId);
}

/** The layer and all its ancestors, bottom (root layer) first, in one recursive query. */
export function chainOf(db: Db, layerId: number): LayerRow[] {
  const rows = db.stmt(`WITH RECURSIVE chain(id, depth) AS (
      SELECT ?, 0
      UNION ALL SELECT l.parent_id, chain.depth + 1 FROM layers l JOIN chain ON l.id = chain.id WHERE l.parent_id IS NOT NULL
    )
    SELECT ${LAYER_COLUMNS.split(', ').map((c) => `l.${c}`).join(', ')} FROM chain JOIN layers l ON l.id = chain.id ORDER BY chain.depth DESC`)
    .all(layerId) as RawLayer[];
  return rows.map(toLayer);
}

/** What mounting needs of a layer: its row id (for the record) and chainId (for its directory). */
export interface StackLayer {
  readonly id: number;
  readonly chainId: ChainId | null;
  readonly parentId: number | null;
}

/** A layer of a stack being mounted, with its names (sorted) for the view the mount returns. */
export interface MountLayer extends StackLayer {
  readonly names: string[];
}

/**
 * chainOf with only what a mount uses: the id and chainId carried along the walk up the parents
 * (one primary-key lookup per layer), and the names joined on. For 500 layers ~0.5 ms for the
 * walk, against ~2 ms for whole rows read and mapped; the join costs ~0.35 ms less than a second
 * query for the names. The rows come as arrays (better-sqlite3's raw mode), not objects with
 * named keys: ~0.25 ms less for 500 (measured here).
 */
export function mountChainOf(db: Db, layerId: number): MountLayer[] {
  const rows = db.stmt(`WITH RECURSIVE chain(id, chainId, parentId, depth) AS (
      SELECT id, chain_id, parent_id, 0 FROM layers WHERE id = ?
      UNION ALL SELECT l.id, l.chain_id, l.parent_id, chain.depth + 1 FROM chain JOIN layers l ON l.id = chain.parentId
    )
    SELECT c.id, c.chainId, c.parentId, n.name FROM chain c LEFT JOIN names n ON n.layer_id = c.id ORDER BY c.depth DESC, n.name`)
    .raw(true).all(layerId) as [id: number, chainId: ChainId | null, parentId: number | null, name: string | null][];
  const out: MountLayer[] = [];
  let last: MountLayer | undefined;
  for (const [id, chainId, parentId, name] of rows) {
    // One row per (layer, name), a layer's rows together: fold them into one entry.
    if (last !== undefined && last.id === id) {
      if (name !== null) last.names.push(name);
      continue;
    }
    last = { id, chainId, parentId, names: name === null ? [] : [name] };
    out.push(last);
  }
  return out;
}

/** Names of many layers at once (layer id → names, sorted). */
export function namesOfLayers(db: Db, layerIds: readonly number[]): Map<number, string[]> {
  const rows = db.stmt('SELECT layer_id AS layerId, name FROM names WHERE layer_id IN (SELECT value FROM json_each(?)) ORDER BY name')
    .all(JSON.stringify(layerIds)) as { layerId: number; name: string }[];
  const out = new Map<number, string[]>();
  for (const r of rows) {
    const list = out.get(r.layerId);
    if (list === undefined) out.set(r.layerId, [r.name]);
    else list.push(r.name);
  }
  return out;
}

/** Which of these layers exist (one query, whatever the number). */
export function existingLayerIds(db: Db, layerIds: readonly number[]): Set<number> {
  const rows = db.stmt('SELECT id FROM layers WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(layerIds)) as { id: number }[];
  return new Set(rows.map((r) => r.id));
}

/** Layers by id (one query). */
export function layersByIds(db: Db, layerIds: readonly number[]): Map<number, LayerRow> {
  const rows = db.stmt(`SELECT ${LAYER_COLUMNS} FROM layers WHERE id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(layerIds)) as RawLayer[];
  return new Map(rows.map((r) => [r.id, toLayer(r)]));
}

/** Every layer, parents before children (a parent's row id is always smaller: it existed first). */
export function allLayers(db: Db): LayerRow[] {
  return (db.stmt(`SELECT ${LAYER_COLUMNS} FROM layers ORDER BY id`).all() as RawLayer[]).map(toLayer);
}
