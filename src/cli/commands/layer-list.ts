import type { Command } from '../command.js';
import { ago, humanSize, printJson, table } from '../render.js';
import { withStore } from '../with-store.js';
import { type ChainId, shortId } from '../../index.js';
import { print } from '../io.js';

export const layerList: Command = {
  name: 'layer list',
  summary: 'List layers: names, short chainId, parent, size, files, created, state',
  usage: '[--json]',
  examples: ['shibafu layer list', 'shibafu layer list --json | jq -r ".[].chainId"'],
  options: {},
  args: { min: 0, max: 0 },
  async run(env) {
    const layers = await withStore(env, null, (store) => store.listLayers());
    if (env.json) {
      printJson(env.io, layers);
      return 0;
    }
    const nameOf = new Map<ChainId, string>();
    for (const l of layers) if (l.chainId !== null && l.names[0] !== undefined) nameOf.set(l.chainId, l.names[0]);
    const now = Date.now();
    const rows = [['NAME', 'LAYER ID', 'PARENT', 'SIZE', 'FILES', 'CREATED', 'STATE']];
    for (const l of layers) {
      rows.push([
        l.names.join(',') || '<none>',
        l.chainId === null ? '<open>' : shortId(l.chainId),
        l.parent === null ? '-' : nameOf.get(l.parent) ?? shortId(l.parent),
        l.state === 'open' ? '-' : humanSize(l.size),
        l.state === 'open' ? '-' : String(l.files),
        ago(l.created, now),
        l.state,
      ]);
    }
    print(env.io, `${table(rows)}\n`);
    return 0;
  },
};
