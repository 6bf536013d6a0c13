/**
 * The demos' sandbox: a temp dir with a throw-away store (or the user's store, with uniquely named
 * layers), and a record of every layer and mount the demo made, so that whatever happens (the end,
 * an error, Ctrl-C) all of it is undone in the right order: unmount, remove layers children first,
 * close the store, delete the temp dir.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isShibafuError } from '../errors.js';
import type { LayerDetails } from '../store/layer-views.js';
import type { MountView } from '../store/layer-mounts.js';
import { openStore, type Store } from '../store/store.js';
import { readMountInfo } from '../sys/mount-info.js';
import type { CleanupReport, DemoOutput } from './demo-output.js';

export interface SandboxOptions {
  /** Names the temp dir: `shibafu-demo-<kind>-XXXXXX`. */
  readonly kind: string;
  /** Where the temp dir is made (the CLI passes $TMPDIR, else /tmp). */
  readonly tmpDir: string;
  /** The store to use; null for a throw-away store inside the temp dir (the default). */
  readonly root: string | null;
}

interface MadeLayer {
  readonly name: string;
  /** The same content was already stored under another name: only our name is to be taken off. */
  readonly existed: boolean;
}

export class DemoSandbox {
  readonly dir: string;
  readonly store: Store;
  /** True when the store lives in the temp dir and goes with it. */
  readonly throwAway: boolean;
  readonly #prefix: string;
  readonly #layers: MadeLayer[] = [];
  readonly #mounts: string[] = [];

  private constructor(dir: string, store: Store, throwAway: boolean) {
    this.dir = dir;
    this.store = store;
    this.throwAway = throwAway;
    // In the user's store the demo's names must not collide with theirs, nor with a second demo.
    this.#prefix = throwAway ? '' : `demo-${randomBytes(3).toString('hex')}-`;
  }

  /**
   * Makes the temp dir and opens the store.
   *
   * @example
   * const box = DemoSandbox.open({ kind: 'overlay', tmpDir: '/tmp', root: null });
   */
  static open(options: SandboxOptions): DemoSandbox {
    const dir = fs.mkdtempSync(join(options.tmpDir, `shibafu-demo-${options.kind}-`));
    try {
      return new DemoSandbox(dir, openStore({ root: options.root ?? join(dir, 'store') }), options.root === null);
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A path inside the temp dir. */
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** The store name of the demo's layer `name` (prefixed in a user's store). */
  layerName(name: string): string {
    return `${this.#prefix}${name}`;
  }

  /** Creates a layer from a host directory; it is removed at clean-up. */
  async createLayer(name: string, options: { fromDir: string; parent?: string; signal: AbortSignal }): Promise<LayerDetails> {
    const result = await this.store.createLayer({
      name: this.layerName(name),
      fromDir: options.fromDir,
      ...(options.parent === undefined ? {} : { parent: this.layerName(options.parent) }),
      signal: options.signal,
    });
    this.#layers.push({ name: this.layerName(name), existed: result.existed });
    return result.layer;
  }

  /** Mounts the demo's layers (each with its ancestors) at `target`; unmounted at clean-up. */
  async mount(layers: readonly string[], target: string, writable: boolean): Promise<MountView> {
    const view = await this.store.mountLayers({ layers: layers.map((l) => this.layerName(l)), target, writable });
    this.#mounts.push(view.target);
    return view;
  }

  /** Unmounts now (a step that remounts); the upper dir goes with the mount. */
  unmount(target: string): string {
    const index = this.#mounts.indexOf(target);
    const done = this.#unmount(target);
    if (index >= 0) this.#mounts.splice(index, 1);
    return done;
  }

  #unmount(target: string): string {
    try {
      this.store.unmount(target);
      return `unmounted ${target}`;
    } catch (err) {
      // A learner's shell sitting in merged/ (with --step) keeps it busy: detach it anyway.
      if (!isShibafuError(err, 'TARGET_BUSY')) throw err;
      this.store.unmount(target, { lazy: true });
      return `unmounted ${target} (lazily: a process was still using it)`;
    }
  }

  #removeLayer(layer: MadeLayer): string {
    if (layer.existed) {
      this.store.untag(layer.name);
      return `untagged ${layer.name} (its content was already in the store)`;
    }
    this.store.removeLayer(layer.name);
    return `removed layer ${layer.name}`;
  }

  /**
   * Undoes everything, trying each action whatever failed before it; throws the first failure at the
   * end. The temp dir is deleted only when nothing is mounted in it any more: rm -r would walk into a
   * still-mounted merged dir and write whiteouts through it.
   */
  cleanup(): CleanupReport {
    const done: string[] = [];
    const errors: unknown[] = [];
    const attempt = (fn: () => string | null): void => {
      try {
        const what = fn();
        if (what !== null) done.push(what);
      } catch (err) {
        errors.push(err);
      }
    };
    for (const target of this.#mounts.splice(0).reverse()) attempt(() => this.#unmount(target));
    for (const layer of this.#layers.splice(0).reverse()) attempt(() => this.#removeLayer(layer));
    attempt(() => { this.store.close(); return null; });
    attempt(() => {
      if (mountedInside(this.dir)) throw new Error(`Cannot remove ${this.dir}: something is still mounted in it`);
      fs.rmSync(this.dir, { recursive: true, force: true });
      return `removed ${this.dir}`;
    });
    if (errors.length > 0) throw errors[0];
    return { kept: false, done, hints: [] };
  }

  /** Leaves everything in place (`--keep`) and says how to remove it later. */
  keep(): CleanupReport {
    this.store.close();
    const root = this.store.root;
    const hints = [
      ...this.#mounts.map((t) => `shibafu --root ${root} layer umount ${t}`),
      // A throw-away store goes with the temp dir; in a user's store the layers must be removed.
      ...(this.throwAway || this.#layers.length === 0 ? [] : [`shibafu --root ${root} layer rm ${this.#layers.map((l) => l.name).reverse().join(' ')}`]),
      `rm -rf ${this.dir}`,
    ];
    return { kept: true, done: [], hints };
  }
}

/** True if a file system is mounted at `dir` or anywhere below it. */
function mountedInside(dir: string): boolean {
  const real = fs.realpathSync(dir);
  return readMountInfo().some((m) => m.mountPoint === real || m.mountPoint.startsWith(`${real}/`));
}

/**
 * Runs `fn` in a fresh sandbox and cleans up after it: at the end (unless `keep`), on error, and on
 * abort. A clean-up failure after an error is reported through `out.warn` and the first error is
 * thrown, so Ctrl-C still exits as interrupted.
 *
 * @example
 * const { value, cleanup } = await withSandbox({ kind: 'cow', tmpDir: '/tmp', root: null, keep: false, out, signal }, run);
 */
export async function withSandbox<T>(
  options: SandboxOptions & { readonly keep: boolean; readonly out: DemoOutput; readonly signal: AbortSignal },
  fn: (box: DemoSandbox) => Promise<T>,
): Promise<{ value: T; cleanup: CleanupReport; sandbox: string; store: string; throwAway: boolean }> {
  options.signal.throwIfAborted();
  const box = DemoSandbox.open(options);
  for (const s of box.store.swept) options.out.warn?.(`swept ${s.kind} leftover of an interrupted operation: ${s.path} (${s.action})`);
  const where = { sandbox: box.dir, store: box.store.root, throwAway: box.throwAway };
  let value: T;
  try {
    value = await fn(box);
  } catch (err) {
    try {
      sayCleanup(options.out, box.cleanup());
    } catch (cleanupError) {
      options.out.warn?.(`clean-up failed: ${(cleanupError as Error).message}`);
    }
    throw err;
  }
  const cleanup = options.keep ? box.keep() : box.cleanup();
  sayCleanup(options.out, cleanup);
  return { value, cleanup, ...where };
}

function sayCleanup(out: DemoOutput, report: CleanupReport): void {
  out.say('');
  if (report.kept) {
    out.say('Kept for you to explore (--keep). To remove it all later:');
    for (const hint of report.hints) out.say(`  ${hint}`);
    return;
  }
  out.say('Cleaned up:');
  for (const line of report.done) out.say(`  ${line}`);
}
