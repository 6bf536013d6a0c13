import type { Command } from '../command.js';
import { humanSize, printJson } from '../render.js';
import { withStore } from '../with-store.js';
import { print } from '../io.js';

export const layerAdd: Command = {
  name: 'layer add',
  summary: 'Copy host files into an open layer (reflink, else copy_file_range, else copy)',
  usage: 'LAYER SRC DEST',
  details: '  A file lands at DEST (inside it if DEST ends with "/" or is a directory); a directory\'s contents merge into DEST.',
  examples: ['shibafu layer add my-app ./app.py /app/app.py', 'shibafu layer add my-app ./static /srv/static'],
  options: {},
  args: { min: 3, max: 3 },
  async run(env, parsed) {
    const [ref, src, dest] = parsed.positionals as [string, string, string];
    const abs = src.startsWith('/') ? src : `${env.io.cwd}/${src}`;
    const stats = await withStore(env, null, (store) => store.addToLayer(ref, abs, dest));
    if (env.json) {
      printJson(env.io, stats);
      return 0;
    }
    const how = Object.entries(stats.methods).filter(([, n]) => n > 0).map(([m, n]) => `${n} by ${m}`).join(', ');
    print(env.io, `added ${stats.files} file${stats.files === 1 ? '' : 's'} (${humanSize(stats.bytes)}) and ${stats.dirs} director${stats.dirs === 1 ? 'y' : 'ies'} to ${ref}:${dest}${how === '' ? '' : ` [${how}]`}\n`);
    return 0;
  },
};

export const layerSeal: Command = {
  name: 'layer seal',
  summary: 'Seal an open layer: compute its diffId and chainId; it never changes again',
  usage: 'LAYER',
  examples: ['shibafu layer seal my-app'],
  options: {},
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const ref = parsed.positionals[0] as string;
    const r = await withStore(env, null, (store) => store.sealLayer(ref));
    if (env.json) {
      printJson(env.io, { ...r.layer, existed: r.existed });
      return 0;
    }
    print(env.io, r.existed
      ? `sealed ${ref}: the same content on the same parent was already stored as ${r.layer.chainId}; the name now points there\n`
      : `sealed ${ref}: ${r.layer.files} entries, ${humanSize(r.layer.size)}\n  chainId ${r.layer.chainId}\n  diffId  ${r.layer.diffId}\n`);
    return 0;
  },
};
