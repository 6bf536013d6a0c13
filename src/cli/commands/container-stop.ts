import { withContainers } from './container-options.js';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { printJson } from '../render.js';
import { ShibafuError } from '../../index.js';
import { print } from '../io.js';

export const containerStop: Command = {
  name: 'container stop',
  summary: 'Stop containers: SIGTERM, then SIGKILL after --time seconds (default 10)',
  usage: 'CONTAINER... [-t SECONDS]',
  details: '  -t, --time SECONDS   grace period before SIGKILL (0: kill at once)',
  examples: ['shibafu container stop web', 'shibafu container stop -t 2 web worker'],
  options: { time: { type: 'string', short: 't' } },
  args: { min: 1, max: Infinity },
  async run(env, parsed) {
    const time = str(parsed, 'time');
    if (time !== undefined && !/^[0-9]+$/.test(time)) throw new ShibafuError('USAGE', `Cannot use --time ${time}: expected whole seconds`);
    const views = await withContainers(env, async (containers) => {
      const out = [];
      for (const ref of parsed.positionals) out.push(await containers.stop(ref, time !== undefined ? { timeoutSeconds: Number(time) } : {}));
      return out;
    });
    if (env.json) printJson(env.io, views);
    else for (const v of views) print(env.io, `${v.name}\n`);
    return 0;
  },
};

export const containerKill: Command = {
  name: 'container kill',
  summary: 'Send a signal (default SIGKILL) to running containers',
  usage: 'CONTAINER... [-s SIGNAL]',
  details: '  -s, --signal SIG   a name (TERM, SIGHUP) or a number',
  examples: ['shibafu container kill web', 'shibafu container kill -s HUP web'],
  options: { signal: { type: 'string', short: 's' } },
  args: { min: 1, max: Infinity },
  async run(env, parsed) {
    const sig = parseSignal(str(parsed, 'signal') ?? 'KILL');
    await withContainers(env, async (containers) => {
      for (const ref of parsed.positionals) await containers.kill(ref, sig);
    });
    if (!env.json) for (const ref of parsed.positionals) print(env.io, `${ref}\n`);
    return 0;
  },
};

const SIGNAL_NAMES = ['HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV', 'USR2', 'PIPE', 'ALRM', 'TERM'];

/** "TERM", "SIGTERM", "15" → "SIGTERM". */
function parseSignal(value: string): NodeJS.Signals {
  const upper = value.toUpperCase().replace(/^SIG/, '');
  const name = /^[0-9]+$/.test(upper) ? SIGNAL_NAMES[Number(upper) - 1] : upper;
  if (name === undefined || !/^[A-Z0-9]+$/.test(name) || (/^[0-9]+$/.test(upper) && Number(upper) < 1)) {
    throw new ShibafuError('USAGE', `Cannot use signal "${value}": expected a name (TERM, HUP) or a number from 1 to ${SIGNAL_NAMES.length}`);
  }
  return `SIG${name}` as NodeJS.Signals;
}
