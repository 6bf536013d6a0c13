/**
 * Open layers: created empty, filled with `layer add` (CopyToLayer), then sealed. Sealing computes
 * the diffId by streaming the directory as an OCI tar through the hash (never to disk) and moves
 * the directory under its chainId. Add and seal take an exclusive flock on the open directory, so a
 * seal never hashes a tree that another process is still copying into.
 */
import * as fs from 'node:fs';
import { randomBytes } from '../sys/random.js';
import { basename, join } from 'node:path';
import {
  deleteLayerRow, insertOpenLayer, layerByChainId, layerById, markSealed, namesOf, openTokenExists, upsertName, type LayerRow,
} from '../db/layer-queries.js';
import { ShibafuError, errnoCode } from '../errors.js';
import { asChainId, chainIdOf } from '../ids.js';
import { splitArchivePath } from '../tar/path-safety.js';
import { fsyncDir } from '../sys/sync.js';
import { lstatx } from '../sys/statx.js';
import { timespecOf } from '../sys/utimens.js';
import type { StorePorts } from './ports.js';
import { assertNameFree, type CommitResult } from './layer-commit.js';
import { openSnapshot, removeActive, removeUnused } from './layer-files.js';
import { copyTree, mergeStagedTree, type CopyStats } from './copy-tree.js';
import { hashChangeset } from './layer-hash.js';
import { Staging, type StagingIntent } from './staging.js';
import type { IntentUndo } from './store-intents.js';
import type { StoreContext } from './store-context.js';

/** The name of `layer add`'s copy inside a snapshot that is its own file system (ADD_ASIDE_PREFIX + token). */
const ADD_ASIDE_PREFIX = '.shibafu-add-';

/**
 * Creates an empty open layer named `name` on `parent`.
 *
 * @example
 * createOpenLayer(ctx, 'my-app', base);
 */
export function createOpenLayer(ctx: StoreContext, name: string, parent: LayerRow | null): LayerRow {
  const stage = Staging.create(ctx.layout, 'open', ctx.ports);
  try {
    const token = randomBytes(16).toString('hex');
    return ctx.db.immediate(() => {
      assertNameFree(ctx, name, null);
      if (parent !== null && layerById(ctx.db, parent.id) === undefined) {
        throw new ShibafuError('LAYER_NOT_FOUND', 'Cannot create layer: its parent was removed meanwhile');
      }
      const snapshot = openSnapshot(token);
      stage.setIntent<StagingIntent>({ kind: 'open', snapshot, openToken: token });
      // Its files: an active snapshot on the parent, made in this transaction with the row.
      ctx.snapshots.prepare(snapshot, parent?.chainId ?? null);
      const id = insertOpenLayer(ctx.db, { parentId: parent?.id ?? null, openToken: token, created: ctx.now() });
      upsertName(ctx.db, name, id, ctx.now());
      return layerById(ctx.db, id) as LayerRow;
    });
  } finally {
    stage.dispose();
  }
}

/** Runs `fn` holding the open layer's flock; a second writer or a seal gets LAYER_IN_USE. */
async function withOpenLayer<T>(ctx: StoreContext, layer: LayerRow, action: string, fn: (dir: string, fd: number) => Promise<T> | T): Promise<T> {
  if (layer.state !== 'open' || layer.openToken === null) {
    throw new ShibafuError('LAYER_SEALED', `Cannot ${action} layer ${describe(ctx, layer)}: it is sealed, and sealed layers never change`, {
      hint: 'Create a new layer on top of it: shibafu layer create NEW --parent LAYER',
    });
  }
  const dir = ctx.snapshots.changeset(openSnapshot(layer.openToken)).dir;
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    if (!ctx.ports.tryLock(fd, true)) {
      throw new ShibafuError('LAYER_IN_USE', `Cannot ${action} layer ${describe(ctx, layer)}: another shibafu process is writing to it`, { hint: 'Retry when it has finished.' });
    }
    return await fn(dir, fd);
  } finally {
    fs.closeSync(fd);
  }
}

function describe(ctx: StoreContext, layer: LayerRow): string {
  const names = namesOf(ctx.db, layer.id);
  return names.length > 0 ? `"${names[0]}"` : (layer.chainId ?? `#${layer.id}`);
}

/**
 * CopyToLayer: copies host `src` to `dest` inside an open layer. A file lands at `dest` (or inside
 * it when `dest` ends with "/" or is a directory); a directory's contents are merged into `dest`,
 * as a Dockerfile COPY does.
 *
 * @example
 * await addToLayer(ctx, app, './app.py', '/app/app.py');
 */
export async function addToLayer(ctx: StoreContext, layer: LayerRow, src: string, dest: string): Promise<CopyStats> {
  let srcStat: fs.Stats;
  try {
    srcStat = fs.lstatSync(src);
  } catch {
    throw new ShibafuError('SOURCE_NOT_FOUND', `Cannot add "${src}": no such file or directory`);
  }
  return withOpenLayer(ctx, layer, 'add to', (dir) => {
    const diff = dir;
    // Inside a layer, "/app/x" and "app/x" name the same place; ".." is still refused.
    const parts = splitArchivePath(dest.replace(/^\/+/, ''), ctx.limits);
    // Copied aside first, then moved in by renames: a copy that fails half-way (a full disk, an
    // unreadable file) leaves the layer as it was. Renames need one file system: where the layer's
    // snapshot is a file system of its own (a btrfs subvolume, a zfs dataset), the copy is made
    // inside it, under a name no archive path can take, and the intent names it for the sweep.
    const stage = Staging.create(ctx.layout, 'add', ctx.ports);
    let aside: Extract<StagingIntent, { kind: 'add' }> | undefined;
    let merged = false;
    try {
      if (fs.statSync(stage.path).dev !== fs.statSync(diff).dev) {
        // The layer's root keeps its times when the add fails: the copy's coming and going is not a change.
        const st = lstatx(diff);
        if (st === null) throw new ShibafuError('STORE_CORRUPT', `Cannot add to layer ${describe(ctx, layer)}: its directory ${diff} is missing`);
        aside = { kind: 'add', aside: join(diff, `${ADD_ASIDE_PREFIX}${stage.token}`), root: diff, atime: st.atime, mtime: timespecOf(st.mtimeNs) };
        stage.setIntent<StagingIntent>(aside);
      }
      const staged = aside?.aside ?? stage.sub('tree');
      const stats = copyTree(src, staged, ctx.ports);
      let target: string;
      if (srcStat.isDirectory()) {
        target = ensureDirs(diff, parts);
      } else {
        const into = dest.endsWith('/') || parts.length === 0 || isDir(join(diff, ...parts));
        target = into
          ? join(ensureDirs(diff, parts), basename(src))
          : join(ensureDirs(diff, parts.slice(0, -1)), parts.at(-1) as string);
      }
      mergeStagedTree(staged, target, ctx.ports);
      merged = true;
      return stats;
    } finally {
      // What merged moved out; the directories it merged into stay behind as empty shells.
      if (aside !== undefined) removeAside(aside, ctx.ports, !merged);
      stage.dispose();
    }
  });
}

/** Creates (0755) or walks the directories `parts` inside `root`, never through a symlink. */
function ensureDirs(root: string, parts: readonly string[]): string {
  let path = root;
  for (const part of parts) {
    path = join(path, part);
    try {
      fs.mkdirSync(path, 0o755);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST' || !fs.lstatSync(path).isDirectory()) {
        throw new ShibafuError('PATH_CONFLICT', `Cannot add under "/${parts.join('/')}": "${path.slice(root.length)}" is not a directory in the layer`);
      }
    }
  }
  return path;
}

function isDir(path: string): boolean {
  try {
    return fs.lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Seals an open layer. If the same content on the same parent is already stored, the open layer's
 * names move to that layer and the open copy is dropped.
 */
export async function sealLayer(ctx: StoreContext, layer: LayerRow): Promise<CommitResult> {
  const token = layer.openToken;
  return withOpenLayer(ctx, layer, 'seal', async (_dir, fd) => {
    const snapshot = openSnapshot(token as string);
    ctx.ports.syncfs(fd);
    const hashed = hashChangeset(ctx.snapshots.changeset(snapshot), ctx.ports, ctx.layout.empty);
    const parent = layer.parentId === null ? null : layerById(ctx.db, layer.parentId) ?? null;
    const chainId = chainIdOf(parent?.chainId ?? null, hashed.diffId);
    const target = ctx.layout.layerDir(chainId);
    const stage = Staging.create(ctx.layout, 'seal', ctx.ports);
    try {
      const result = ctx.db.immediate(() => {
        const existing = layerByChainId(ctx.db, chainId);
        if (existing !== undefined) {
          for (const name of namesOf(ctx.db, layer.id)) upsertName(ctx.db, name, existing.id, ctx.now());
          stage.setIntent<StagingIntent>({ kind: 'remove', target: stage.sub('none'), snapshot, openToken: token as string });
          deleteLayerRow(ctx.db, layer.id);
          return { layer: existing, existed: true };
        }
        stage.setIntent<StagingIntent>({ kind: 'seal', target, chainId });
        // Holding the write lock, a directory without a row is a leftover of a killed process.
        fs.rmSync(target, { recursive: true, force: true });
        fs.mkdirSync(target, 0o700);
        fsyncDir(ctx.layout.layers);
        markSealed(ctx.db, layer.id, { chainId, diffId: hashed.diffId, size: hashed.bytes, files: hashed.entries, sealed: ctx.now() });
        // The open layer's snapshot is the layer now: committed under its chainId, nothing moved.
        ctx.snapshots.commit(chainId, snapshot);
        return { layer: layerById(ctx.db, layer.id) as LayerRow, existed: false };
      });
      // The same content was stored already: the open copy goes, outside the write lock.
      if (result.existed) removeUnused(ctx, snapshot);
      return result;
    } finally {
      stage.dispose();
    }
  });
}

/** The sweep's undo of an `open`: the snapshot of an open layer whose row never committed goes. */
export const undoOpen: IntentUndo<Extract<StagingIntent, { kind: 'open' }>> = (ctx, _stagingPath, intent) => {
  if (openTokenExists(ctx.db, intent.openToken)) return false;
  // An intent of the layout before snapshots names the open layer's dir instead.
  const legacy = (intent as { target?: string }).target;
  if (intent.snapshot !== undefined) removeActive(ctx, intent.snapshot);
  else if (legacy !== undefined) fs.rmSync(legacy, { recursive: true, force: true });
  return false;
};

/** Removes an add's copy made inside the layer; `restoreRoot` gives the layer's root its times back. */
function removeAside(intent: Extract<StagingIntent, { kind: 'add' }>, ports: StorePorts, restoreRoot: boolean): void {
  if (!basename(intent.aside).startsWith(ADD_ASIDE_PREFIX)) return;
  fs.rmSync(intent.aside, { recursive: true, force: true });
  if (restoreRoot) ports.lutimens(intent.root, intent.atime, intent.mtime);
}

/**
 * The sweep's undo of an `add` copied inside the layer's snapshot: the copy goes, and the root
 * its times (a kill between the last rename and the removal leaves the root "changed" by the
 * add that did land: its time is then one a user could have set).
 */
export const undoAdd: IntentUndo<Extract<StagingIntent, { kind: 'add' }>> = (ctx, _stagingPath, intent) => {
  removeAside(intent, ctx.ports, true);
  return false;
};

/**
 * The sweep's undo of a `seal`: one transaction committed the snapshot and sealed the row, so only
 * the layer's metadata dir can be left, without its row.
 */
export const undoSeal: IntentUndo<Extract<StagingIntent, { kind: 'seal' }>> = (ctx, _stagingPath, intent) => {
  if (layerByChainId(ctx.db, asChainId(intent.chainId)) !== undefined) return false;
  // An intent of the layout before snapshots: the open layer's dir was renamed to the target; it
  // goes back, and the migration that follows this sweep makes it a snapshot.
  const source = (intent as { source?: string }).source;
  if (source !== undefined) {
    if (fs.existsSync(intent.target) && !fs.existsSync(source)) {
      fs.renameSync(intent.target, source);
      return true;
    }
    return false;
  }
  fs.rmSync(intent.target, { recursive: true, force: true });
  return false;
};
