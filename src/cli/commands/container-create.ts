import type { Command } from '../command.js';
import { printJson } from '../render.js';
import { CONTAINER_OPTIONS, CONTAINER_OPTIONS_HELP, withContainersFor } from './container-options.js';
import { print } from '../io.js';

export const containerCreate: Command = {
  name: 'container create',
  summary: 'Create a container (stack mounted with a fresh upper, bundle written) without starting it',
  usage: '[OPTIONS] IMAGE [CMD [ARG...]] | [OPTIONS] [--layers A,B,... | LAYER] CMD [ARG...]',
  details: CONTAINER_OPTIONS_HELP,
  examples: [
    'shibafu container create --name job --layers base,python,app python3 /app/app.py',
    'shibafu container start -a job',
  ],
  options: CONTAINER_OPTIONS,
  stopAtPositional: true,
  args: { min: 1, max: Infinity },
  async run(env, parsed) {
    const view = await withContainersFor(env, parsed, (containers, o) => containers.create(o));
    if (env.json) printJson(env.io, view);
    else print(env.io, `${view.id}\n`);
    return 0;
  },
};
