import type { Command } from '../command.js';
import { str } from '../command.js';
import { humanSize, printJson, progress } from '../render.js';
import { withStore } from '../with-store.js';
import { ShibafuError, shortId } from '../../index.js';
import { print } from '../io.js';

export const layerCreate: Command = {
  name: 'layer create',
  summary: 'Create a layer from a tar (plain, gzip, zstd), stdin, a directory, or empty (open)',
  usage: 'NAME [TAR|-] [--parent LAYER] [--from-dir DIR]',
  details: [
    '  --parent LAYER     the layer this one is a changeset on top of',
    '  --from-dir DIR     take the layer from a directory (in overlay format) instead of a tar',
    '  --max-entries N    refuse archives with more entries (default 2000000)',
    '  --max-depth N      refuse paths with more components (default 256)',
    '  --max-size BYTES   stop once the archive expands past this (default 64G; zip-bomb guard)',
    'With no TAR and no --from-dir, the layer is created open: fill it with `layer add`, then `layer seal`.',
  ].join('\n'),
  examples: [
    'shibafu layer create alpine-base ./alpine-rootfs.tar.gz',
    'shibafu layer create python-runtime ./python.tar.zst --parent alpine-base',
    'curl -s URL | shibafu layer create app - --parent python-runtime',
    'shibafu layer create my-app --parent alpine-base   # open, then layer add / layer seal',
  ],
  options: {
    parent: { type: 'string' },
    'from-dir': { type: 'string' },
    'max-entries': { type: 'string' },
    'max-depth': { type: 'string' },
    'max-size': { type: 'string' },
  },
  args: { min: 1, max: 2 },
  async run(env, parsed) {
    const [name, src] = parsed.positionals as [string, string | undefined];
    const fromDir = str(parsed, 'from-dir');
    if (src !== undefined && fromDir !== undefined) {
      throw new ShibafuError('USAGE', 'Cannot create a layer from both TAR and --from-dir', { hint: 'Give one source.' });
    }
    const bar = progress(env.io);
    const result = await withStore(env, parsed, (store) => store.createLayer({
      name,
      parent: str(parsed, 'parent'),
      ...(src === '-' ? { source: env.io.stdin } : src !== undefined ? { source: resolveFrom(env.io.cwd, src) } : {}),
      ...(fromDir !== undefined ? { fromDir: resolveFrom(env.io.cwd, fromDir) } : {}),
      signal: env.io.signal,
      onProgress: (p) => bar.update(`importing ${name}: ${humanSize(p.bytes)}, ${p.entries} entries`),
    }));
    bar.done();
    if (env.json) {
      printJson(env.io, { ...result.layer, existed: result.existed });
      return 0;
    }
    const l = result.layer;
    if (l.state === 'open') {
      print(env.io, `created open layer "${name}"${l.parent !== null ? ` on ${l.parentNames[0] ?? shortId(l.parent)}` : ''}\n`);
      print(env.io, `  add files: shibafu layer add ${name} SRC DEST; then: shibafu layer seal ${name}\n`);
      return 0;
    }
    if (result.existed) {
      print(env.io, `layer ${shortId(l.chainId!)} already stored with the same content on the same parent; named it "${name}"\n`);
    } else {
      print(env.io, `created layer "${name}" ${shortId(l.chainId!)}: ${l.files} entries, ${humanSize(l.size)}\n`);
    }
    print(env.io, `  chainId ${l.chainId}\n  diffId  ${l.diffId}\n`);
    return 0;
  },
};

function resolveFrom(cwd: string, path: string): string {
  return path.startsWith('/') ? path : `${cwd}/${path}`;
}
