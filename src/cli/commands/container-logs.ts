import { withContainers } from './container-options.js';
import type { Command } from '../command.js';
import { flag } from '../command.js';

export const containerLogs: Command = {
  name: 'container logs',
  summary: 'Print the output (stdout and stderr) of a detached container; -f follows it',
  usage: 'CONTAINER [-f]',
  details: [
    '  -f, --follow   keep printing until the container ends (or Ctrl-C)',
    'Containers run attached (`run` without -d) write to the terminal; nothing is logged for them.',
  ].join('\n'),
  examples: ['shibafu container logs web', 'shibafu container logs -f web'],
  options: { follow: { type: 'boolean', short: 'f' } },
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    await withContainers(env, async (containers) => {
      for await (const chunk of containers.logs(parsed.positionals[0] as string, { follow: flag(parsed, 'follow'), signal: env.io.signal })) {
        if (!env.io.stdout.write(chunk)) await new Promise((r) => env.io.stdout.once('drain', r));
      }
    });
    return 0;
  },
};
