import { withContainers } from './container-options.js';
import type { Command, CommandEnv, Parsed } from '../command.js';
import { flag } from '../command.js';
import { ago, printJson, table } from '../render.js';
import { type ChainId, type ContainerView, shortId } from '../../index.js';
import { print } from '../io.js';

const PS_OPTIONS = { all: { type: 'boolean', short: 'a' }, quiet: { type: 'boolean', short: 'q' } } as const;

async function runPs(env: CommandEnv, parsed: Parsed): Promise<number> {
  const views = await withContainers(env, (containers) => containers.list({ all: flag(parsed, 'all') }));
  if (env.json) {
    printJson(env.io, views);
    return 0;
  }
  if (flag(parsed, 'quiet')) {
    for (const v of views) print(env.io, `${v.id.slice(0, 12)}\n`);
    return 0;
  }
  const now = Date.now();
  const rows = [['NAME', 'ID', 'STATE', 'STACK', 'COMMAND', 'CREATED', 'STATUS']];
  for (const v of views) rows.push([v.name, v.id.slice(0, 12), v.state, stackLabel(v), commandLabel(v.command), ago(v.created, now), statusText(v, now)]);
  print(env.io, `${table(rows)}\n`);
  return 0;
}

export const ps: Command = {
  name: 'ps',
  summary: 'List running containers (-a: all) with their stack, command and status',
  usage: '[-a] [-q] [--json]',
  details: '  -a, --all     every container, not only running ones\n  -q, --quiet   short ids only',
  examples: ['shibafu ps -a', 'shibafu ps -aq | xargs shibafu container rm -f'],
  options: PS_OPTIONS,
  args: { min: 0, max: 0 },
  run: runPs,
};

export const containerPs: Command = { ...ps, name: 'container ps', examples: ['shibafu container ps -a'] };

/**
 * docker's and podman's STATUS column: "Created", "Up 5 seconds", "Exited (3) 5 seconds ago";
 * "(unknown)" when the end was not seen, and a note when the stack is no longer mounted.
 *
 * @example
 * statusText({ state: 'exited', exitStatus: 3, finished: '...', ... }) // 'Exited (3) 5 seconds ago'
 */
export function statusText(v: Pick<ContainerView, 'state' | 'exitStatus' | 'started' | 'finished' | 'mounted'>, now = Date.now()): string {
  let text: string;
  if (v.state === 'created') text = 'Created';
  else if (v.state === 'running') text = `Up ${ago(v.started ?? new Date(now).toISOString(), now).replace(/ ago$/, '')}`;
  else text = `Exited (${v.exitStatus ?? 'unknown'}) ${v.finished === null ? '' : ago(v.finished, now)}`.trimEnd();
  return v.mounted || v.state === 'running' ? text : `${text}, not mounted`;
}

function stackLabel(v: ContainerView): string {
  const labels = v.stack.map((l) => l.names[0] ?? (l.chainId === null ? '?' : shortId(l.chainId as ChainId)));
  const named = labels.join(',');
  return named.length <= 40 ? named : `${labels[0]},...,${labels.at(-1)} (${labels.length})`;
}

function commandLabel(args: readonly string[]): string {
  const text = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
  return text.length <= 32 ? text : `${text.slice(0, 29)}...`;
}
