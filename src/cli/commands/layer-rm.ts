import type { Command } from '../command.js';
import { printJson } from '../render.js';
import { withStore } from '../with-store.js';
import { type ChainId, shortId } from '../../index.js';
import { print } from '../io.js';

export const layerRm: Command = {
  name: 'layer rm',
  summary: 'Remove a layer (or one of its names, if it has several); refused while it is in use',
  usage: 'LAYER...',
  examples: ['shibafu layer rm my-app', 'shibafu layer rm old-tag 3f2a9c'],
  options: {},
  args: { min: 1, max: Infinity },
  async run(env, parsed) {
    const results = await withStore(env, null, (store) => parsed.positionals.map((ref) => ({ ref, ...store.removeLayer(ref) })));
    if (env.json) {
      printJson(env.io, results);
      return 0;
    }
    for (const r of results) {
      const id = r.chainId === null ? '<open>' : shortId(r.chainId as ChainId);
      print(env.io, r.action === 'untagged' ? `untagged ${r.ref} (layer ${id} keeps its other names)\n` : `removed layer ${id}${r.names.length > 0 ? ` (${r.names.join(', ')})` : ''}\n`);
    }
    return 0;
  },
};
