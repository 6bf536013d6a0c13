/**
 * Typed queries over containers and the layers they stack. Only this folder speaks SQL.
 */
import type { Db } from './db.js';

export type ContainerState = 'created' | 'running' | 'stopped' | 'exited';

/** A 64-hex container id (random, as podman's). */
export type ContainerId = string & { readonly __brand: 'ContainerId' };

export interface ContainerRow {
  readonly id: ContainerId;
  readonly name: string;
  readonly state: ContainerState;
  /** The process's args. */
  readonly command: string[];
  /** The container's settings as JSON text (parsed by src/container/container-config.ts). */
  readonly config: string;
  readonly created: string;
  readonly started: string | null;
  readonly finished: string | null;
  readonly exitStatus: number | null;
  readonly pid: number | null;
  /** Layer ids of the stack, bottom first. */
  readonly layerIds: number[];
  /**
   * How many of those (from the bottom) it was created on; the rest are layers its own commits
   * made of its upper (container-commit.ts), which are still its changes.
   */
  readonly imageLayers: number;
}

interface RawContainer {
  id: string; name: string; state: string; command: string; config: string; created: string;
  started: string | null; finished: string | null; exit_status: number | null; pid: number | null; image_layers: number | null;
}

const COLUMNS = 'id, name, state, command, config, created, started, finished, exit_status, pid, image_layers';

function toRow(db: Db, r: RawContainer): ContainerRow {
  const layerIds = (db.stmt('SELECT layer_id FROM container_layers WHERE container_id = ? ORDER BY position').all(r.id) as { layer_id: number }[])
    .map((x) => x.layer_id);
  return {
    id: r.id as ContainerId,
    name: r.name,
    state: r.state as ContainerState,
    command: JSON.parse(r.command) as string[],
    config: r.config,
    created: r.created,
    started: r.started,
    finished: r.finished,
    exitStatus: r.exit_status,
    pid: r.pid,
    layerIds,
    imageLayers: r.image_layers ?? layerIds.length,
  };
}

export interface NewContainer {
  readonly id: ContainerId;
  readonly name: string;
  readonly command: readonly string[];
  readonly config: string;
  readonly created: string;
  readonly layerIds: readonly number[];
  /** The image it was made from, if any (images.id). */
  readonly imageId?: number | null;
}

/** Inserts a container in state `created` with its stack. */
export function insertContainer(db: Db, c: NewContainer): void {
  db.stmt(`INSERT INTO containers (id, name, state, command, config, created, image_id) VALUES (?, ?, 'created', ?, ?, ?, ?)`)
    .run(c.id, c.name, JSON.stringify(c.command), c.config, c.created, c.imageId ?? null);
  const add = db.stmt('INSERT INTO container_layers (container_id, position, layer_id) VALUES (?, ?, ?)');
  c.layerIds.forEach((layerId, position) => add.run(c.id, position, layerId));
}

export function containerById(db: Db, id: string): ContainerRow | undefined {
  const r = db.stmt(`SELECT ${COLUMNS} FROM containers WHERE id = ?`).get(id) as RawContainer | undefined;
  return r === undefined ? undefined : toRow(db, r);
}

export function containerByName(db: Db, name: string): ContainerRow | undefined {
  const r = db.stmt(`SELECT ${COLUMNS} FROM containers WHERE name = ?`).get(name) as RawContainer | undefined;
  return r === undefined ? undefined : toRow(db, r);
}

/** Containers whose id starts with `hexPrefix` (at most `limit`). */
export function containersByPrefix(db: Db, hexPrefix: string, limit = 3): ContainerRow[] {
  const rows = db.stmt(`SELECT ${COLUMNS} FROM containers WHERE id LIKE ? LIMIT ?`).all(`${hexPrefix.replace(/[%_]/g, '')}%`, limit) as RawContainer[];
  return rows.map((r) => toRow(db, r));
}

export function allContainers(db: Db): ContainerRow[] {
  return (db.stmt(`SELECT ${COLUMNS} FROM containers ORDER BY created, id`).all() as RawContainer[]).map((r) => toRow(db, r));
}

/** Containers whose stack includes the layer, running or not. */
export function nameTaken(db: Db, name: string): boolean {
  return db.stmt('SELECT 1 FROM containers WHERE name = ?').get(name) !== undefined;
}

/** Marks a container running from now on. */
export function markRunning(db: Db, id: string, started: string): void {
  db.stmt(`UPDATE containers SET state = 'running', started = ?, finished = NULL, exit_status = NULL, pid = NULL WHERE id = ?`).run(started, id);
}

export function setPid(db: Db, id: string, pid: number): void {
  db.stmt(`UPDATE containers SET pid = ? WHERE id = ? AND state = 'running'`).run(pid, id);
}

/**
 * Records the end of the run that started at `started`; `exitStatus` null when nobody saw it end.
 * Returns false when the container was meanwhile removed or started again (that run is not over).
 */
export function markEnded(db: Db, id: string, end: { started: string | null; finished: string; exitStatus: number | null }): boolean {
  return db.stmt(`UPDATE containers SET state = 'exited', finished = ?, exit_status = ?, pid = NULL WHERE id = ? AND state = 'running' AND started IS ?`)
    .run(end.finished, end.exitStatus, id, end.started).changes > 0;
}

/** Turns an ended container's state into `stopped` (it was ended by `container stop`). */
export function markStopped(db: Db, id: string): void {
  db.stmt(`UPDATE containers SET state = 'stopped' WHERE id = ? AND state = 'exited'`).run(id);
}

export function deleteContainer(db: Db, id: string): boolean {
  return db.stmt('DELETE FROM containers WHERE id = ?').run(id).changes > 0;
}

/**
 * Stacks `layerId` on top of the container's stack: a commit moved its upper into that layer.
 * The first such commit records how many layers the container was created on.
 */
export function stackCommittedLayer(db: Db, id: string, layerId: number): void {
  const { n } = db.stmt('SELECT COUNT(*) AS n FROM container_layers WHERE container_id = ?').get(id) as { n: number };
  db.stmt('UPDATE containers SET image_layers = COALESCE(image_layers, ?) WHERE id = ?').run(n, id);
  db.stmt('INSERT INTO container_layers (container_id, position, layer_id) VALUES (?, ?, ?)').run(id, n, layerId);
}

export function containerExists(db: Db, id: string): boolean {
  return db.stmt('SELECT 1 FROM containers WHERE id = ?').get(id) !== undefined;
}
