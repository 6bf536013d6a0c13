/**
 * The containers facade, reached as `await store.containers()`: each method resolves what the user named
 * and calls the domain function (create, start, stop, rm, ...), reconciling state on every read.
 */
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { allContainers, containerById, type ContainerRow } from '../db/container-queries.js';
import type { LayerRow } from '../db/layer-queries.js';
import { isShibafuError } from '../errors.js';
import type { RunOutcome } from '../runtime/oci-runtime.js';
import type { StoreContext } from '../store/store-context.js';
import { parseStoredConfig, type ContainerConfig } from './container-config.js';
import { validateName } from '../store/layer-resolver.js';
import { inspectLayer, type LayerDetails } from '../store/layer-views.js';
import { commitContainer, type ContainerCommitResult } from './container-commit.js';
import { containerContext, type ContainerContext } from './container-context.js';
import { createContainer, discardContainer } from './container-create.js';
import { containerStack, containerUpper, isContainerMounted } from './container-mount.js';
import { removeContainer } from './container-remove.js';
import { resolveContainer } from './container-resolve.js';
import { startAttached, startDetached, type AttachOptions, type DetachedOptions } from './container-start.js';
import { reconcile } from './container-state.js';
import { killContainer, stopContainer } from './container-stop.js';
import { toView, type ContainerView } from './container-views.js';

export interface CreateOptions {
  /** Layer names or ids; each brings its ancestors, stacked in the order given. */
  readonly layers: readonly string[];
  readonly name?: string;
  readonly config: ContainerConfig;
  /** The image it is made from (`run IMAGE`): `layers` is then the image's top layer. */
  readonly imageId?: number;
}

export interface RunResult {
  /** The status `run` exits with: the container's, or 125/126/127 for a failure to start it. */
  readonly status: number;
  readonly outcome: RunOutcome;
  /** The container as it ended; null when it was removed (`--rm`). */
  readonly container: ContainerView | null;
}

export interface Containers {
  create(options: CreateOptions): Promise<ContainerView>;
  /** `run`: create, start attached, wait; removed after when `config.autoRemove`. */
  run(options: CreateOptions & AttachOptions): Promise<RunResult>;
  /** `start -a`: runs an existing container in the foreground. */
  attach(ref: string, options: AttachOptions): Promise<RunResult>;
  /**
   * `start` / `run -d`: detached; `afterExit` runs once it ends (the CLI's `rm` for --rm). Fails
   * with nothing left running when the runtime does not start it within `timeoutMs` (60 s).
   */
  start(ref: string, options?: DetachedOptions): Promise<ContainerView>;
  stop(ref: string, options?: { timeoutSeconds?: number }): Promise<ContainerView>;
  kill(ref: string, signal: NodeJS.Signals): Promise<void>;
  /** False when it was already gone. */
  remove(ref: string, options?: { force?: boolean }): Promise<boolean>;
  /** Running containers, or all with `all`; oldest first. */
  list(options?: { all?: boolean }): Promise<ContainerView[]>;
  inspect(ref: string): Promise<ContainerView>;
  /** A detached container's output; with `follow`, until it ends or `signal` aborts. */
  logs(ref: string, options?: { follow?: boolean; signal?: AbortSignal }): AsyncIterable<Buffer>;
  /**
   * What `container diff` works on: the upper dir, the stack it was created on (bottom first)
   * and the layers its commits moved its upper into since (bottom first).
   */
  layers(ref: string): Promise<ContainerLayers>;
  /** `container commit` (container-commit.ts): moves a stopped container's upper, copies a running one's. */
  commit(ref: string, name: string | null, options?: { signal?: AbortSignal }): Promise<ContainerCommitted>;
}

export interface ContainerLayers {
  readonly upper: string;
  readonly stack: LayerRow[];
  readonly committed: LayerRow[];
}

/** A container commit as callers see it: the new layer's details, the copy's figures, moved or copied. */
export interface ContainerCommitted {
  readonly layer: LayerDetails;
  /** True when the same content on the same parent was already stored: only the name was added. */
  readonly existed: boolean;
  readonly stats: ContainerCommitResult['stats'];
  /** True when a stopped container's upper was moved into the layer (not copied). */
  readonly moved: boolean;
}

/**
 * @example
 * const containers = containersFacade(ctx, (ref) => store.sealedLayer(ref));
 * const { status } = await containers.run({ layers: ['app'], config, stdio: [0, 1, 2] });
 */
export function containersFacade(ctx: StoreContext, sealedLayer: (ref: string) => Promise<LayerRow>, cc: ContainerContext = containerContext(ctx)): Containers {
  const find = (ref: string): ContainerRow => resolveContainer(ctx.db, ref);
  const view = (row: ContainerRow): ContainerView => toView(ctx, row, isContainerMounted(ctx, row));
  const create = async (options: CreateOptions): Promise<ContainerRow> => {
    const layers: LayerRow[] = [];
    for (const ref of options.layers) layers.push(await sealedLayer(ref));
    return createContainer(ctx, {
      layers, config: options.config, ...(options.name !== undefined ? { name: options.name } : {}), ...(options.imageId !== undefined ? { imageId: options.imageId } : {}),
    });
  };
  const attach = async (row: ContainerRow, options: AttachOptions): Promise<RunResult> => {
    const autoRemove = parseStoredConfig(row.config).autoRemove;
    try {
      const { outcome, row: ended } = await startAttached(cc, row, options);
      if (autoRemove) await removeContainer(cc, ended, { force: true });
      return { status: outcome.status, outcome, container: autoRemove ? null : view(ended) };
    } catch (err) {
      // A --rm container that could not start is removed too (podman does the same).
      if (autoRemove) await discardContainer(ctx, row.id).catch(() => {});
      throw err;
    }
  };
  return {
    create: async (options) => view(await create(options)),
    run: async (options) => attach(await create(options), options),
    attach: async (ref, options) => attach(find(ref), options),
    start: async (ref, options = {}) => {
      const row = find(ref);
      try {
        return view(await startDetached(cc, row, options));
      } catch (err) {
        // A timed-out start killed the monitor that would have removed a --rm container: do it here.
        if (isShibafuError(err, 'RUNTIME_FAILED') && err.details?.['timedOut'] === true && parseStoredConfig(row.config).autoRemove) {
          await discardContainer(ctx, row.id).catch(() => {});
        }
        throw err;
      }
    },
    stop: async (ref, options = {}) => view(await stopContainer(cc, find(ref), options)),
    kill: (ref, signal) => killContainer(cc, find(ref), signal),
    remove: (ref, options = {}) => removeContainer(cc, find(ref), { force: options.force === true }),
    async list(options = {}) {
      const rows = ctx.db.read(() => allContainers(ctx.db));
      const views: ContainerView[] = [];
      for (const row of rows) {
        const current = await reconcile(cc, row);
        if (options.all === true || current.state === 'running') views.push(view(current));
      }
      return views;
    },
    inspect: async (ref) => view(await reconcile(cc, find(ref))),
    logs: (ref, options = {}) => followLog(cc, find(ref), options),
    layers(ref) {
      const row = find(ref);
      const layers = containerStack(ctx, row);
      return Promise.resolve({
        upper: containerUpper(ctx, row.id), stack: layers.slice(0, row.imageLayers), committed: layers.slice(row.imageLayers),
      });
    },
    commit: async (ref, name, options = {}) => {
      const result = await commitContainer(cc, find(ref), name === null ? null : validateName(name), options);
      return { layer: inspectLayer(ctx, result.layer), existed: result.existed, stats: result.stats, moved: result.moved };
    },
  };
}

async function* followLog(cc: ContainerContext, row: ContainerRow, options: { follow?: boolean; signal?: AbortSignal }): AsyncGenerator<Buffer> {
  const file = cc.store.layout.containerLog(row.id);
  let offset = 0;
  for (;;) {
    const chunk = readFrom(file, offset);
    offset += chunk.length;
    if (chunk.length > 0) yield chunk;
    if (options.follow !== true || options.signal?.aborted === true) return;
    const fresh = cc.store.db.read(() => containerById(cc.store.db, row.id));
    if (fresh === undefined || (await reconcile(cc, fresh)).state !== 'running') {
      // One last read: what the container wrote just before it ended.
      const rest = readFrom(file, offset);
      if (rest.length > 0) yield rest;
      return;
    }
    try {
      await sleep(100, undefined, options.signal === undefined ? undefined : { signal: options.signal });
    } catch (err) {
      if (isShibafuError(err) || (err as Error).name !== 'AbortError') throw err;
      return;
    }
  }
}

function readFrom(file: string, offset: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
