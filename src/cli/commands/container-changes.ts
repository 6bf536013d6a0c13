import type { Command } from '../command.js';
import { runContainerCommit, runContainerDiff } from '../render-changes.js';
import { withStore } from '../with-store.js';
import { containersOf } from '../../index.js';

export const containerDiff: Command = {
  name: 'container diff',
  summary: 'List a container\'s changes (A added, C changed, D deleted) with their sizes, from its upper dir alone',
  usage: 'CONTAINER [--json]',
  details: [
    '  Sizes: an added file its size; a changed one old -> new; a deletion the bytes it hides.',
    '  Computed from the upper dir plus point lookups in the lowers: the cost grows with the changes, not the image.',
  ].join('\n'),
  examples: ['shibafu container diff web', 'shibafu container diff web --json | jq ".[] | select(.kind == \\"D\\")"'],
  options: {},
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    return withStore(env, null, async (store) => {
      return runContainerDiff(env, store, await (await containersOf(store)).layers(parsed.positionals[0] as string));
    });
  },
};

export const containerCommit: Command = {
  name: 'container commit',
  summary: 'Make a container\'s changes a new sealed layer on top of its stack (moved if stopped, copied while paused if running)',
  usage: 'CONTAINER LAYER_NAME [--json]',
  details: [
    '  The layer\'s parent is the top of the container\'s stack. A container that does not run gives its upper dir',
    '  to the layer (nothing is copied) and is stacked on it with a fresh upper: what it sees is unchanged, and',
    '  `container diff` still lists all its changes. A running one is paused while its upper is copied.',
  ].join('\n'),
  examples: ['shibafu container commit web web-configured', 'shibafu run --layers web-configured ...'],
  options: {},
  args: { min: 2, max: 2 },
  async run(env, parsed) {
    const [ref, name] = parsed.positionals as [string, string];
    return withStore(env, null, async (store) => {
      return runContainerCommit(env, store, ref, name);
    });
  },
};
