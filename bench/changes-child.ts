/**
 * What `container diff` / `container commit` do, as one process, for bench/changes-bench.ts to time
 * whole: Node's start, the store's modules and open, GetLayerChanges (printed as the CLI prints it)
 * or commitUpper. It imports what such a command imports, nothing of the benchmark's own.
 *
 * Usage: node dist/bench/changes-child.js diff|commit STORE_ROOT MOUNT_TARGET
 */
import { randomBytes } from 'node:crypto';
import { renderChanges } from '../src/cli/render-changes.js';
import { expandStack } from '../src/store/layer-mounts.js';
import { openStore } from '../src/store/store.js';

async function main(mode: string, root: string, target: string): Promise<void> {
  const store = openStore({ root });
  try {
    const mount = store.listMounts().find((m) => m.target === target);
    if (mount?.upper == null) throw new Error(`no writable mount at ${target}`);
    const stack = expandStack(store.context, mount.layers.map((l) => store.resolve(l.chainId!)));
    if (mode === 'diff') process.stdout.write(renderChanges(await store.getLayerChanges({ upper: mount.upper, stack })));
    else if (mode === 'commit') await store.commitUpper({ upper: mount.upper, stack, name: `committed-${randomBytes(4).toString('hex')}` });
    else throw new Error(`unknown mode "${mode}": diff or commit`);
  } finally {
    store.close();
  }
}

const [mode = '', root = '', target = ''] = process.argv.slice(2);
main(mode, root, target).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
