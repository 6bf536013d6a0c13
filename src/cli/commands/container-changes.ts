import type { Command } from '../command.js';
import { runContainerCommit, runContainerDiff } from '../render-changes.js';
import { withStore } from '../with-store.js';

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
      const { upper, stack } = await (await store.containers()).layers(parsed.positionals[0] as string);
      return runContainerDiff(env, store, { upper, stack });
    });
  },
};

export const containerCommit: Command = {
  name: 'container commit',
  summary: 'Make a container\'s changes a new sealed layer on top of its stack (paused while copied if running)',
  usage: 'CONTAINER LAYER_NAME [--json]',
  details: '  The layer\'s parent is the top of the container\'s stack; files are reflinked where the file system can.',
  examples: ['shibafu container commit web web-configured', 'shibafu run --layers web-configured ...'],
  options: {},
  args: { min: 2, max: 2 },
  async run(env, parsed) {
    const [ref, name] = parsed.positionals as [string, string];
    return withStore(env, null, async (store) => {
      const layers = await (await store.containers()).layers(ref);
      return runContainerCommit(env, store, layers, name);
    });
  },
};
