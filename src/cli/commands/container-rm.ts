import { withContainers } from './container-options.js';
import type { Command } from '../command.js';
import { flag } from '../command.js';
import { printJson } from '../render.js';
import { print } from '../io.js';

export const containerRm: Command = {
  name: 'container rm',
  summary: 'Remove containers: unmount, delete upper, work, merged and bundle (-f: a running one too)',
  usage: 'CONTAINER... [-f]',
  details: '  -f, --force   kill a running container first',
  examples: ['shibafu container rm job', 'shibafu container rm -f web'],
  options: { force: { type: 'boolean', short: 'f' } },
  args: { min: 1, max: Infinity },
  async run(env, parsed) {
    const removed = await withContainers(env, async (containers) => {
      const out: { ref: string; removed: boolean }[] = [];
      for (const ref of parsed.positionals) out.push({ ref, removed: await containers.remove(ref, { force: flag(parsed, 'force') }) });
      return out;
    });
    if (env.json) printJson(env.io, removed);
    else for (const r of removed) print(env.io, `${r.ref}\n`);
    return 0;
  },
};
