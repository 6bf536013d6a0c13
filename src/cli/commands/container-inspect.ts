import { withContainers } from './container-options.js';
import type { Command } from '../command.js';
import { printJson } from '../render.js';

export const containerInspect: Command = {
  name: 'container inspect',
  summary: 'Show containers as JSON: state, exit status, pid, stack, config, paths',
  usage: 'CONTAINER...',
  examples: ['shibafu container inspect web', 'shibafu container inspect web | jq -r ".[0].paths.upper"'],
  options: {},
  args: { min: 1, max: Infinity },
  async run(env, parsed) {
    const views = await withContainers(env, async (containers) => {
      const out = [];
      for (const ref of parsed.positionals) out.push(await containers.inspect(ref));
      return out;
    });
    // An array whatever the count, as podman prints it: scripts index it the same way.
    printJson(env.io, views);
    return 0;
  },
};
