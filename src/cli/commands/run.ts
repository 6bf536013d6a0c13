import type { Command } from '../command.js';
import { flag } from '../command.js';
import { ShibafuError } from '../../index.js';
import { CONTAINER_OPTIONS, CONTAINER_OPTIONS_HELP, attachOptions, runFailure, withContainersFor } from './container-options.js';
import { print } from '../io.js';

export const run: Command = {
  name: 'run',
  summary: 'Run a command in a new container of an image or a stack of layers (runc); exits with its status',
  usage: '[OPTIONS] IMAGE [CMD [ARG...]] | [OPTIONS] [--layers A,B,... | LAYER] CMD [ARG...]',
  details: [
    CONTAINER_OPTIONS_HELP,
    '  -d, --detach          run in the background and print the id (output: shibafu container logs)',
    '',
    'Options go before LAYER and CMD; everything after CMD is its arguments. The exit status is the',
    'container\'s; 125 when shibafu fails, 126 when CMD cannot be invoked, 127 when it is not found.',
    'Signals sent to shibafu (INT, TERM, HUP, QUIT, USR1, USR2) are forwarded to the container.',
  ].join('\n'),
  examples: [
    'shibafu run --rm busybox echo hi',
    'shibafu run --rm -e GREETING=hi --entrypoint /bin/sh my-app:1 -c "echo $GREETING"',
    'shibafu run --layers base,python,app python3 /app/app.py',
    'shibafu run --rm -it base sh',
    'echo hello | shibafu run --rm -i base cat',
    'shibafu run -d --name web -v /srv/www:/www:ro --network host base httpd -f -p 8080 -h /www',
  ],
  options: { ...CONTAINER_OPTIONS, detach: { type: 'boolean', short: 'd' } },
  stopAtPositional: true,
  args: { min: 1, max: Infinity },
  async run(env, parsed) {
    try {
      if (!flag(parsed, 'detach')) {
        return await withContainersFor(env, parsed, async (containers, o) => {
          const attach = attachOptions(env, o.config);
          return (await containers.run({ ...o, ...(o.name !== undefined ? { name: o.name } : {}), ...attach })).status;
        });
      }
      if (flag(parsed, 'tty')) {
        throw new ShibafuError('USAGE', 'Cannot run detached with a terminal (-d -t): nothing would be attached to it', {
          hint: 'Drop -t; the output of a detached container is in `shibafu container logs`.',
        });
      }
      const id = await withContainersFor(env, parsed, async (containers, o) => {
        const created = await containers.create(o);
        const self = env.io.selfCommand;
        // Nobody waits for a detached --rm container: its monitor removes it when it ends.
        const afterExit = o.config.autoRemove && self !== undefined ? [...self, '--root', env.root, 'container', 'rm', '--force', created.id] : undefined;
        return (await containers.start(created.id, afterExit !== undefined ? { afterExit } : {})).id;
      });
      print(env.io, `${id}\n`);
      return 0;
    } catch (err) {
      return runFailure(env, err);
    }
  },
};
