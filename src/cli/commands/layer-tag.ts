import type { Command } from '../command.js';
import { printJson } from '../render.js';
import { withStore } from '../with-store.js';
import { shortId } from '../../index.js';
import { print } from '../io.js';

export const layerTag: Command = {
  name: 'layer tag',
  summary: 'Add a name to a layer, or move an existing name to it',
  usage: 'LAYER NAME',
  examples: ['shibafu layer tag 3f2a9c alpine-3.20', 'shibafu layer tag python-v2 python   # move "python"'],
  options: {},
  args: { min: 2, max: 2 },
  async run(env, parsed) {
    const [ref, name] = parsed.positionals as [string, string];
    const d = await withStore(env, null, (store) => store.tagLayer(ref, name));
    if (env.json) printJson(env.io, d);
    else print(env.io, `"${name}" now names layer ${d.chainId === null ? '<open>' : shortId(d.chainId)}\n`);
    return 0;
  },
};

export const layerUntag: Command = {
  name: 'layer untag',
  summary: 'Remove a name; the layer itself stays',
  usage: 'NAME',
  examples: ['shibafu layer untag alpine-3.20'],
  options: {},
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const name = parsed.positionals[0] as string;
    await withStore(env, null, (store) => store.untag(name));
    if (env.json) printJson(env.io, { untagged: name });
    else print(env.io, `removed name "${name}"\n`);
    return 0;
  },
};
