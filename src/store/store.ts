/**
 * The store: one root directory, one SQLite database, and the operations of the layer manager.
 * A thin facade: each method resolves what the user named and calls the domain function.
 */
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { Db } from '../db/db.js';
import { ShibafuError, fromSystemError } from '../errors.js';
import type { LayerRow } from '../db/layer-queries.js';
import type { CopyStats } from './copy-tree.js';
import { StoreLayout } from './layout.js';
import type { ImportProgress } from './layer-import.js';
import { expandStack, expandStackToMount, listMounts, mountStack, unmountTarget, type MountView } from './layer-mounts.js';
import { removeLayer, tagLayer, untag, type RemoveResult } from './layer-remove.js';
import { resolveLayer, validateName } from './layer-resolver.js';
import { inspectLayer, listLayers, type LayerDetails, type LayerSummary } from './layer-views.js';
import type { MountApi, StorePorts } from './ports.js';
import { realPorts } from './real-ports.js';
import { systemMounter } from '../overlay/system-mounter.js';
import { openSnapshotter, type SweepingSnapshotter } from '../snapshots/meta-snapshotter.js';
import type { StorageDriver } from '../snapshots/snapshotter.js';
import { openStorage } from '../snapshots/storage-drivers.js';
import { storeDriver } from './store-driver.js';
import { migrateLegacyLayout } from './legacy-layout.js';
import type { Mounter, MountTable } from '../snapshots/mount.js';
import { sweepLeftovers, type SweptItem } from './recovery.js';
import { listStaging } from './staging.js';
import { sweepTrash } from '../content/blob-publish.js';
import { sweepIngests } from '../content/ingest-dir.js';
import type { ContentStore } from '../content/content-store.js';
import type { Digest } from '../ids.js';
import type { IntentUndoers } from './store-intents.js';
import { DEFAULT_LIMITS, type ImportLimits, type StoreContext } from './store-context.js';
import type { Change } from '../changes/change.js';
import type { GetLayerChangesOptions } from './layer-changes.js';
import type { ExportOptions, ExportResult, ExportTarget } from './layer-export.js';
import type { CommitUpperOptions, CommitUpperResult } from './layer-from-upper.js';

export interface OpenStoreOptions {
  readonly root: string;
  readonly limits?: Partial<ImportLimits>;
  /** Kernel ports; the real ones by default. */
  readonly ports?: StorePorts;
  /** What performs the store's mounts; the kernel's (systemMounter) by default. */
  readonly mounter?: Mounter & MountTable;
  /** For a new store: its storage driver (default overlay). An existing store keeps its own: another is DRIVER_MISMATCH. */
  readonly storageDriver?: StorageDriver;
  /** For a new store: the driver's options (`zfs.fsname`). */
  readonly storageOptions?: Readonly<Record<string, string>>;
  readonly now?: () => string;
  /**
   * The undo of staged operations the store does not own (the containers' own, registered by
   * index.ts's openStore), for the sweep of leftovers (recovery.ts).
   */
  readonly undoers?: IntentUndoers;
}

export interface CreateLayerOptions {
  readonly name: string;
  /** A tar path or stream (plain, gzip or zstd); absent with `fromDir`, or for an open layer. */
  readonly source?: string | Readable;
  readonly fromDir?: string;
  readonly parent?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ImportProgress) => void;
  /**
   * The digest of the archive as given (a registry pull knows it from the manifest). When the
   * store already has a layer made from that blob on the same parent, the source is not read at
   * all: only the name is added. Otherwise the archive must hash to it (DIGEST_MISMATCH).
   */
  readonly expectedDigest?: Digest;
}

export interface CreateLayerResult {
  readonly layer: LayerDetails;
  /** True when the same content on the same parent was already stored: only the name was added. */
  readonly existed: boolean;
}

export interface MountLayersOptions {
  readonly layers: readonly string[];
  readonly target: string;
  readonly writable?: boolean;
  readonly api?: MountApi;
  readonly volatile?: boolean;
}

/**
 * Opens (creating if needed) the store at `root`, sweeping what interrupted operations of the
 * store left (index.ts's openStore adds the containers' undo: prefer that one).
 *
 * @example
 * const store = openStore({ root: '/var/lib/shibafu' });
 * try { console.log(store.listLayers()); } finally { store.close(); }
 */
export function openStore(options: OpenStoreOptions): Store {
  return Store.open(options);
}

export class Store {
  readonly #ctx: StoreContext;
  /** What the open swept (leftovers of killed processes); empty on a clean store. */
  readonly swept: readonly SweptItem[];

  readonly #undoers: IntentUndoers;
  readonly #snapshots: SweepingSnapshotter;

  private constructor(ctx: StoreContext, snapshots: SweepingSnapshotter, undoers: IntentUndoers, swept: SweptItem[]) {
    this.#ctx = ctx;
    this.#snapshots = snapshots;
    this.#undoers = undoers;
    this.swept = swept;
  }

  static open(options: OpenStoreOptions): Store {
    const layout = new StoreLayout(options.root);
    try {
      // 0700: the store holds setuid binaries and device nodes from images.
      fs.mkdirSync(layout.root, { recursive: true, mode: 0o700 });
      for (const dir of layout.skeleton) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fromSystemError(err, `create the store at ${layout.root}`);
    }
    // The kernel's mounter decides its overlay mount API once, at its first mount.
    const mounter = options.mounter ?? systemMounter({ emptyDir: layout.empty });
    const byApi: Partial<Record<'new' | 'legacy', Mounter & MountTable>> = {};
    const db = Db.open(layout.db);
    const ports = options.ports ?? realPorts();
    const now = options.now ?? (() => new Date().toISOString());
    let snapshots: SweepingSnapshotter;
    let stagingNames: readonly string[];
    let driver: StorageDriver;
    let legacy: boolean;
    try {
      const chosen = storeDriver(db, layout.root, options.storageDriver, options.storageOptions);
      driver = chosen.driver;
      legacy = chosen.legacy;
      // Opening it sweeps what an interrupted change of a snapshot left (snapshot-sweep.ts),
      // before the store's own sweep, whose undo may remove snapshots. Both take their own
      // kinds from one listing of tmp/.
      stagingNames = listStaging(layout);
      snapshots = openSnapshotter(
        { db, staging: layout, locks: ports, mountTable: mounter, now },
        openStorage(driver, { root: layout.snapshots, options: chosen.options }),
        { stagingNames },
      );
    } catch (err) {
      db.close();
      throw err;
    }
    const ctx: StoreContext = {
      db,
      layout,
      ports,
      snapshots,
      driver,
      mounter,
      mounterFor: (api) => (api === 'auto' || api === mounter.overlayApi() ? mounter : (byApi[api] ??= systemMounter({ emptyDir: layout.empty, api }))),
      limits: { ...DEFAULT_LIMITS, ...options.limits },
      now,
    };
    try {
      const undoers = options.undoers ?? {};
      const swept = sweepAll(ctx, undoers, stagingNames);
      if (legacy) migrateLegacyLayout(ctx);
      return new Store(ctx, snapshots, undoers, swept);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  get root(): string { return this.#ctx.layout.root; }

  /** Sweeps leftovers again, as an open does (for a store kept open across commands). */
  sweep(): SweptItem[] {
    const stagingNames = listStaging(this.#ctx.layout);
    this.#snapshots.sweep({ stagingNames });
    return sweepAll(this.#ctx, this.#undoers, stagingNames);
  }

  /** The context domain functions work with (for the runtime and other modules of this package). */
  get context(): StoreContext { return this.#ctx; }

  /** Resolves a name, chainId or unique chainId prefix. */
  resolve(ref: string): LayerRow {
    return resolveLayer(this.#ctx.db, ref);
  }

  /** `layer create`: from a tar, a directory, or (neither) an empty open layer. */
  async createLayer(options: CreateLayerOptions): Promise<CreateLayerResult> {
    const name = validateName(options.name);
    if (options.source !== undefined && options.fromDir !== undefined) {
      throw new ShibafuError('USAGE', 'Cannot create a layer from both an archive and a directory');
    }
    let parent = options.parent === undefined ? null : this.resolve(options.parent);
    // A layer that becomes a parent is sealed: its diff must never change under its children.
    if (parent !== null && parent.state === 'open') parent = (await sealOpen(this.#ctx, parent)).layer;
    if (options.source === undefined && options.fromDir === undefined) {
      const { createOpenLayer } = await import('./open-layer.js');
      return { layer: inspectLayer(this.#ctx, createOpenLayer(this.#ctx, name, parent)), existed: false };
    }
    const { importDir, importTar } = await import('./layer-import.js');
    const importOptions = { name, parent, signal: options.signal, onProgress: options.onProgress, expectedDigest: options.expectedDigest };
    const result = options.fromDir !== undefined
      ? await importDir(this.#ctx, options.fromDir, importOptions)
      : await importTar(this.#ctx, options.source as string | Readable, importOptions);
    return { layer: inspectLayer(this.#ctx, result.layer), existed: result.existed };
  }

  /** `layer add`: copies host files into an open layer. */
  async addToLayer(ref: string, src: string, dest: string): Promise<CopyStats> {
    const { addToLayer } = await import('./open-layer.js');
    return addToLayer(this.#ctx, this.resolve(ref), src, dest);
  }

  /** `layer seal`: freezes an open layer under its content address. */
  async sealLayer(ref: string): Promise<CreateLayerResult> {
    const result = await sealOpen(this.#ctx, this.resolve(ref));
    return { layer: inspectLayer(this.#ctx, result.layer), existed: result.existed };
  }

  listLayers(): LayerSummary[] {
    return listLayers(this.#ctx);
  }

  inspectLayer(ref: string): LayerDetails {
    return inspectLayer(this.#ctx, this.resolve(ref));
  }

  removeLayer(ref: string): RemoveResult {
    return removeLayer(this.#ctx, ref, this.resolve(ref));
  }

  /** Adds a name to a layer, or moves it there from another layer. */
  tagLayer(ref: string, name: string): LayerDetails {
    const layer = this.resolve(ref);
    tagLayer(this.#ctx, layer, validateName(name));
    return inspectLayer(this.#ctx, layer);
  }

  untag(name: string): void {
    untag(this.#ctx, name);
  }

  /** A layer to stack (mount or run): an open layer is sealed first, its content becomes immutable. */
  async sealedLayer(ref: string): Promise<LayerRow> {
    const layer = this.resolve(ref);
    return layer.state === 'open' ? (await sealOpen(this.#ctx, layer)).layer : layer;
  }

  /**
   * The content store (blobs by digest: ingest, read verified, walk, delete), loaded when first
   * asked for.
   *
   * @example
   * const content = await store.content();
   * content.info(digest).size
   */
  async content(): Promise<ContentStore> {
    if (this.#content === undefined) {
      const { ContentStore } = await import('../content/content-store.js');
      this.#content = new ContentStore(this.#ctx);
    }
    return this.#content;
  }

  #content: ContentStore | undefined;

  /** `layer mount`: each named layer brings its ancestors; open layers are sealed first. */
  async mountLayers(options: MountLayersOptions): Promise<MountView> {
    const named: LayerRow[] = [];
    for (const ref of options.layers) named.push(await this.sealedLayer(ref));
    return mountStack(this.#ctx, expandStackToMount(this.#ctx, named), options.target, {
      writable: options.writable === true, api: options.api ?? 'auto', volatile: options.volatile,
    });
  }

  unmount(target: string, options: { lazy?: boolean } = {}): { unmounted: boolean; recorded: boolean } {
    return unmountTarget(this.#ctx, target, options.lazy === true);
  }

  listMounts(): MountView[] {
    return listMounts(this.#ctx);
  }

  // The change-tracking operations load their modules when first called (as the CLI loads its
  // commands), so opening a store for `layer list` does not pay for them.

  /** GetLayerChanges (`container diff`): what a writable upper changed over its stack. */
  async getLayerChanges(options: GetLayerChangesOptions): Promise<Change[]> {
    const { getLayerChanges } = await import('./layer-changes.js');
    return getLayerChanges(this.#ctx, options);
  }

  /** An upper dir (a `layer mount --writable` one, or a running container's) copied into a sealed layer on top of its stack. */
  async commitUpper(options: CommitUpperOptions): Promise<CreateLayerResult & { stats: CommitUpperResult['stats'] }> {
    const { commitUpper } = await import('./layer-from-upper.js');
    const result = commitUpper(this.#ctx, { ...options, name: options.name === null ? null : validateName(options.name) });
    return { layer: inspectLayer(this.#ctx, result.layer), existed: result.existed, stats: result.stats };
  }

  /** `layer export`: the layer's OCI tar (plain, gzip, zstd) to a file or a stream. */
  async exportLayer(ref: string, target: ExportTarget, options: ExportOptions = {}): Promise<ExportResult> {
    const { writeLayerExport } = await import('./layer-export.js');
    return writeLayerExport(this.#ctx, this.resolve(ref), target, options);
  }

  /** `layer diff`: the changes from one stack's merged view to another's. */
  async diffLayers(from: readonly string[], to: readonly string[], options: { signal?: AbortSignal } = {}): Promise<Change[]> {
    const { diffStacks } = await import('./diff-layers.js');
    return diffStacks(this.#ctx, await this.#stackOf(from), await this.#stackOf(to), options);
  }

  /** `layer diff-create`: a layer on `from` whose stack shows exactly `to`. */
  async createDiffLayer(options: { name: string; from: readonly string[]; to: readonly string[]; signal?: AbortSignal }): Promise<CreateLayerResult & { changes: Change[] }> {
    const name = validateName(options.name);
    const { createDiffLayer } = await import('./diff-layers.js');
    const result = await createDiffLayer(this.#ctx, {
      from: await this.#stackOf(options.from), to: await this.#stackOf(options.to), name, signal: options.signal,
    });
    return { layer: inspectLayer(this.#ctx, result.layer), existed: result.existed, changes: result.changes };
  }

  /** `layer apply`: a layer's changeset again on another base (same diffId, new chainId). */
  async applyLayer(options: { diff: string; onto: string; name: string; signal?: AbortSignal }): Promise<CreateLayerResult> {
    const name = validateName(options.name);
    const [diff] = await this.#stackOf([options.diff], false);
    const [onto] = await this.#stackOf([options.onto], false);
    const { applyLayer } = await import('./layer-apply.js');
    const result = await applyLayer(this.#ctx, { diff: diff!, onto: onto!, name, signal: options.signal });
    return { layer: inspectLayer(this.#ctx, result.layer), existed: result.existed };
  }

  /** Resolves refs, seals open ones (a layer that is a lower is sealed), and expands the stack. */
  async #stackOf(refs: readonly string[], expand = true): Promise<LayerRow[]> {
    if (refs.length === 0) throw new ShibafuError('USAGE', 'Cannot use an empty list of layers');
    const named: LayerRow[] = [];
    for (const ref of refs) {
      const layer = this.resolve(ref);
      named.push(layer.state === 'open' ? (await sealOpen(this.#ctx, layer)).layer : layer);
    }
    return expand ? expandStack(this.#ctx, named) : named;
  }

  close(): void {
    this.#ctx.snapshots.close();
    this.#ctx.db.close();
  }
}

/**
 * Staging leftovers (from tmp/'s entries as listed for the snapshotter's sweep), then interrupted
 * blob removals and abandoned ingests (one readdir each when none).
 */
function sweepAll(ctx: StoreContext, undoers: IntentUndoers, stagingNames: readonly string[]): SweptItem[] {
  const swept = sweepLeftovers(ctx, undoers, stagingNames);
  sweepTrash(ctx);
  for (const ingest of sweepIngests(ctx)) swept.push({ path: ingest.ref, kind: 'ingest', action: 'removed' });
  return swept;
}

/**
 * Seals an open layer. The import and sealing code (tar parsing, packing, hashing) loads on first
 * use: most commands (list, inspect, run, ps) never need it, and Node's start is most of theirs.
 */
async function sealOpen(ctx: StoreContext, layer: LayerRow): Promise<{ layer: LayerRow; existed: boolean }> {
  const { sealLayer } = await import('./open-layer.js');
  return sealLayer(ctx, layer);
}
