import type { Command } from '../command.js';
import { humanSize, printJson } from '../render.js';
import { withStore } from '../with-store.js';
import { print } from '../io.js';

/** The widest key ("Children:") and its space: where values start, also on a continued line. */
const KEY_WIDTH = 'Children:'.length;
const BLOBS_INDENT = KEY_WIDTH + 1;

export const layerInspect: Command = {
  name: 'layer inspect',
  summary: 'Show every field of a layer (by name, chainId or unique prefix)',
  usage: 'LAYER [--json]',
  examples: ['shibafu layer inspect alpine-base', 'shibafu layer inspect 3f2a9c --json'],
  options: {},
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const d = await withStore(env, null, (store) => store.inspectLayer(parsed.positionals[0] as string));
    if (env.json) {
      printJson(env.io, d);
      return 0;
    }
    const lines: [string, string][] = [
      ['Names', d.names.join(', ') || '<none>'],
      ['State', d.state],
      ['ChainID', d.chainId ?? '<open: computed when sealed>'],
      ['DiffID', d.diffId ?? '<open: computed when sealed>'],
      ['Parent', d.parent === null ? '-' : `${d.parent}${d.parentNames.length > 0 ? ` (${d.parentNames.join(', ')})` : ''}`],
      ['Depth', String(d.depth)],
      ['Size', `${humanSize(d.size)} (${d.size} bytes)`],
      ['Files', String(d.files)],
      ['Blob', d.blob === null ? '-' : `${d.blob.digest} (${humanSize(d.blob.size)}, ${d.blob.mediaType ?? 'unknown'})`],
      ['Blobs', d.blobs.length === 0 ? '-' : d.blobs.map((b) => `${b.digest} (${b.compression}, ${humanSize(b.size)}, ${b.mediaType})`).join('\n' + ' '.repeat(BLOBS_INDENT))],
      ['Source', d.source],
      ['Created', d.created],
      ['Sealed', d.sealed ?? '-'],
      ['Children', d.children.length === 0 ? '-' : d.children.map((c) => c.names[0] ?? c.chainId ?? '?').join(', ')],
      ['Mounts', d.mounts.length === 0 ? '-' : d.mounts.map((m) => `${m.target}${m.writable ? ' (rw)' : ''}`).join(', ')],
      ['Path', d.path],
    ];
    for (const [k, v] of lines) print(env.io, `${`${k}:`.padEnd(KEY_WIDTH)} ${v}\n`);
    return 0;
  },
};
