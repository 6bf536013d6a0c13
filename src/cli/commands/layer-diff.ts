import type { Command } from '../command.js';
import { str } from '../command.js';
import { printChanges, printLayerMade } from '../render-changes.js';
import { withStore } from '../with-store.js';
import { ShibafuError } from '../../index.js';

/** `a,b` → ['a', 'b']: a stack, as `layer mount` takes it. */
function stack(refs: string): string[] {
  return refs.split(',').filter((r) => r !== '');
}

export const layerDiff: Command = {
  name: 'layer diff',
  summary: "List the differences between two stacks' merged views (A added, C changed, D deleted, with sizes)",
  usage: 'FROM[,LAYER...] TO[,LAYER...] [--json]',
  details: [
    '  Each side is a stack, as `layer mount` takes it (each layer brings its ancestors). Both are',
    '  mounted read-only and compared path by path: type, mode, owner, mtime (seconds), xattrs, link',
    '  target, content, hard links. A directory is C when its attributes changed or an entry directly',
    '  inside it was added or deleted. Sizes: bytes added, bytes a deletion hides, old -> new.',
  ].join('\n'),
  examples: ['shibafu layer diff alpine-base my-app', 'shibafu layer diff app-v1 app-v2 --json'],
  options: {},
  args: { min: 2, max: 2 },
  async run(env, parsed) {
    const [from, to] = parsed.positionals as [string, string];
    const changes = await withStore(env, null, (store) => store.diffLayers(stack(from), stack(to), { signal: env.io.signal }));
    printChanges(env, changes);
    return 0;
  },
};

export const layerDiffCreate: Command = {
  name: 'layer diff-create',
  summary: 'Create a layer on FROM such that FROM + it shows exactly the merged view of TO',
  usage: 'NEW --from LAYER --to LAYER[,LAYER...]',
  details: [
    '  --from LAYER   the base: one chain; its top layer becomes the new layer\'s parent',
    '  --to STACK     the stack to reproduce (any stack, several chains allowed)',
    '  Deletions become whiteouts, a directory none of whose old entries survive becomes opaque,',
    '  added and changed paths are copied (reflink where the file system has them).',
  ].join('\n'),
  examples: ['shibafu layer diff-create v1-to-v2 --from app-v1 --to app-v2', 'shibafu layer diff-create merged --from base --to base,tools,app'],
  options: { from: { type: 'string' }, to: { type: 'string' } },
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const name = parsed.positionals[0] as string;
    const from = str(parsed, 'from');
    const to = str(parsed, 'to');
    if (from === undefined || to === undefined) {
      throw new ShibafuError('USAGE', 'Cannot create a diff layer without --from and --to', { hint: `shibafu layer diff-create ${name} --from BASE --to TARGET` });
    }
    const result = await withStore(env, null, (store) => store.createDiffLayer({ name, from: stack(from), to: stack(to), signal: env.io.signal }));
    printLayerMade(env, result, `created diff (${result.changes.length} change${result.changes.length === 1 ? '' : 's'})`, { changes: result.changes });
    return 0;
  },
};

export const layerApply: Command = {
  name: 'layer apply',
  summary: "Re-apply a layer's changeset on another base (same diffId, new chainId)",
  usage: 'DIFF --onto BASE NEW',
  details: '  --onto BASE   the new parent. The copy is reflinked where possible and verified against the diffId.',
  examples: ['shibafu layer apply security-patch --onto alpine-3.20 patched-3.20'],
  options: { onto: { type: 'string' } },
  args: { min: 2, max: 2 },
  async run(env, parsed) {
    const [diff, name] = parsed.positionals as [string, string];
    const onto = str(parsed, 'onto');
    if (onto === undefined) throw new ShibafuError('USAGE', 'Cannot apply a layer without --onto BASE', { hint: `shibafu layer apply ${diff} --onto BASE ${name}` });
    const result = await withStore(env, null, (store) => store.applyLayer({ diff, onto, name, signal: env.io.signal }));
    printLayerMade(env, result, 'applied');
    return 0;
  },
};
