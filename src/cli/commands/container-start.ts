import type { Command } from '../command.js';
import { flag } from '../command.js';
import { printJson } from '../render.js';
import { ShibafuError } from '../../index.js';
import { attachOptions, runFailure, withContainers } from './container-options.js';
import { print } from '../io.js';

export const containerStart: Command = {
  name: 'container start',
  summary: 'Start a created or ended container, detached (default) or attached (-a)',
  usage: 'CONTAINER [-a] [-i]',
  details: [
    '  -a, --attach        run in the foreground with stdio and signals passed through; exit with its status',
    '  -i, --interactive   with -a: pass stdin to the container',
  ].join('\n'),
  examples: ['shibafu container start web', 'shibafu container start -ai job'],
  options: { attach: { type: 'boolean', short: 'a' }, interactive: { type: 'boolean', short: 'i' } },
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const ref = parsed.positionals[0] as string;
    if (flag(parsed, 'attach')) {
      try {
        return await withContainers(env, async (containers) => {
          const { config } = await containers.inspect(ref);
          const attach = attachOptions(env, { ...config, interactive: config.interactive || flag(parsed, 'interactive') });
          return (await containers.attach(ref, attach)).status;
        });
      } catch (err) {
        return runFailure(env, err);
      }
    }
    const view = await withContainers(env, async (containers) => {
      const { config } = await containers.inspect(ref);
      if (config.tty) {
        throw new ShibafuError('USAGE', `Cannot start container "${ref}" detached: it was created with a terminal (-t)`, {
          hint: `Attach to it: shibafu container start -a ${ref}`,
        });
      }
      return containers.start(ref);
    });
    if (env.json) printJson(env.io, view);
    else print(env.io, `${view.name}\n`);
    return 0;
  },
};
