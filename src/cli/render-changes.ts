/**
 * Output of change lists (`container diff`, `layer diff`) and of commands that make a layer from
 * changes (`container commit`, `layer diff-create`, `layer apply`). Human form: podman's
 * `KIND /path` lines, sizes in a column after them; `--json`: the Change objects as they are.
 */
import { type ChainId, type Change, containersOf, type CreateLayerResult, type LayerRow, shortId, type Store } from '../index.js';
import type { CommandEnv } from './command.js';
import { humanSize, printJson } from './render.js';
import { print } from './io.js';

/** Paths longer than this do not push the size column further right. */
const MAX_PATH_COLUMN = 60;

/**
 * The human lines, one per change, sorted as given: `A /etc/motd   +3 B`, `C /etc/passwd   11 B -> 21 B`,
 * `D /var/cache   -1.0 MiB`. A directory whose listing or attributes changed has no size.
 *
 * @example
 * renderChanges(changes) // 'C /etc\nA /etc/motd  +3 B\n'
 */
export function renderChanges(changes: readonly Change[]): string {
  const width = Math.min(MAX_PATH_COLUMN, Math.max(0, ...changes.map((c) => c.path.length)));
  let out = '';
  for (const c of changes) {
    const size = sizeText(c);
    out += size === '' ? `${c.kind} ${c.path}\n` : `${c.kind} ${c.path.padEnd(width)}  ${size}\n`;
  }
  return out;
}

function sizeText(c: Change): string {
  if (c.kind === 'A') return c.newType === 'dir' ? '' : `+${humanSize(c.newSize ?? 0)}`;
  if (c.kind === 'D') return `-${humanSize(c.oldSize ?? 0)}`;
  if (c.oldType === 'dir' && c.newType === 'dir') return '';
  const typeChange = c.oldType !== c.newType ? ` (${c.oldType} -> ${c.newType})` : '';
  return `${humanSize(c.oldSize ?? 0)} -> ${humanSize(c.newSize ?? 0)}${typeChange}`;
}

/**
 * Prints a change list for a command: JSON with `--json`, else the human lines.
 *
 * @example
 * printChanges(env, store.getLayerChanges({ upper, stack }));
 */
export function printChanges(env: CommandEnv, changes: readonly Change[]): void {
  if (env.json) printJson(env.io, changes);
  else print(env.io, renderChanges(changes));
}

/**
 * Prints the layer a command made (commit, diff-create, apply): JSON with `--json` (the layer's
 * details, `existed`, and whatever `extra` holds), else two lines and the ids.
 *
 * @example
 * printLayerMade(env, store.commitUpper({ upper, stack, name: 'app-v2' }), 'committed', { stats });
 */
export function printLayerMade(env: CommandEnv, result: CreateLayerResult, verb: string, extra: Record<string, unknown> = {}): void {
  if (env.json) {
    printJson(env.io, { ...result.layer, existed: result.existed, ...extra });
    return;
  }
  const l = result.layer;
  const name = l.names[0] ?? shortId(l.chainId as ChainId);
  const parent = l.parent === null ? 'no parent' : `on ${l.parentNames[0] ?? shortId(l.parent)}`;
  if (result.existed) print(env.io, `layer ${shortId(l.chainId as ChainId)} already stored with the same content on the same parent; named it "${name}"\n`);
  else print(env.io, `${verb} layer "${name}" ${shortId(l.chainId as ChainId)} (${parent}): ${l.files} entries, ${humanSize(l.size)}\n`);
  print(env.io, `  chainId ${l.chainId}\n  diffId  ${l.diffId}\n`);
}

/** What `container diff` needs of a container (see Containers.layers). */
export interface ContainerLayers {
  /** Its overlay upper dir. */
  readonly upper: string;
  /** The stack it was created on, bottom first (as `expandStack` returns it). */
  readonly stack: readonly LayerRow[];
  /** Layers its commits moved its upper into, bottom first: their changes are its changes too. */
  readonly committed?: readonly LayerRow[];
}

/**
 * The body of `container diff NAME`, for the container commands to call once they have found the
 * container: prints its changes (podman's lines plus sizes, or `--json`); returns the exit status.
 *
 * @example
 * return withStore(env, null, (store) => runContainerDiff(env, store, { upper, stack }));
 */
export async function runContainerDiff(env: CommandEnv, store: Store, container: ContainerLayers): Promise<number> {
  printChanges(env, await store.getLayerChanges({ ...container, signal: env.io.signal }));
  return 0;
}

/**
 * The body of `container commit NAME LAYER_NAME`: the container's changes become a layer on its
 * stack's top (moved from a stopped container, copied from a paused running one).
 *
 * @example
 * return withStore(env, null, (store) => runContainerCommit(env, store, 'web', 'web-v2'));
 */
export async function runContainerCommit(env: CommandEnv, store: Store, ref: string, name: string): Promise<number> {
  const result = await (await containersOf(store)).commit(ref, name, { signal: env.io.signal });
  printLayerMade(env, result, 'committed', { stats: result.stats, moved: result.moved });
  return 0;
}
