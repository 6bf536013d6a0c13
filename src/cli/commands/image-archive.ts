/**
 * `shibafu image load` and `image save` (aliases `load -i SRC`, `save`): OCI layouts,
 * oci-archives and docker-archives in and out.
 */
import type { Command, CommandEnv, Parsed } from '../command.js';
import { humanSize, printJson } from '../render.js';
import { LayerBars, type LayerLine } from '../layer-progress.js';
import { withStore } from '../with-store.js';
import { imagesOf, parsePlatform, shortId, ShibafuError, type LayerProgress, type SaveFormat } from '../../index.js';
import { print } from '../io.js';

const FORMATS: readonly SaveFormat[] = ['oci-archive', 'oci-dir', 'docker-archive'];

async function load(env: CommandEnv, parsed: Parsed, src: string): Promise<number> {
  const ref = parsed.values.ref as string | undefined;
  const tags = (parsed.values.tag as string[] | undefined) ?? [];
  const platform = parsed.values.platform === undefined ? undefined : parsePlatform(parsed.values.platform as string);
  const bars = env.json || parsed.values.quiet === true ? null : new LayerBars(env.io);
  const loaded = await withStore(env, parsed, async (store) => (await imagesOf(store)).load(src, {
    ...(ref !== undefined ? { ref } : {}), tags, ...(platform !== undefined ? { platform } : {}), signal: env.io.signal,
    ...(bars !== null ? { onProgress: (p: LayerProgress & { image: string }) => bars.update(p.digest, layerLabel(p), lineOf(p)) } : {}),
  })).finally(() => bars?.done());
  if (env.json) {
    printJson(env.io, loaded.map((l) => ({ id: l.image.configDigest, digest: l.image.manifestDigest, names: l.names, existed: l.existed, platform: l.image.platform, size: l.image.size })));
    return 0;
  }
  if (parsed.values.quiet === true) {
    for (const l of loaded) print(env.io, `${l.image.configDigest}\n`);
    return 0;
  }
  for (const l of loaded) {
    const names = l.names.length > 0 ? l.names.join(', ') : '<none>';
    print(env.io, `Loaded image ${names} (${shortId(l.image.configDigest)}, ${l.image.platform}, ${humanSize(l.image.size)})${l.existed ? ': already stored' : ''}\n`);
  }
  return 0;
}

/** `IMAGE layer 2/3 4f2a9c0d1e2b`: what a progress line is about. */
export function layerLabel(p: { image: string; index: number; count: number; digest: string }): string {
  return `${p.image} layer ${p.index + 1}/${p.count} ${p.digest.slice(7, 19)}`;
}

/** A layer's progress in the store (load, and the unpacking half of a pull) as a line. */
export function lineOf(p: LayerProgress): LayerLine {
  switch (p.state) {
    case 'stored': return { state: 'already stored', final: true };
    case 'done': return { state: 'verified, unpacked', final: true };
    default: return p.progress === undefined ? { state: 'unpacking', final: false } : { state: 'unpacking', bytes: p.progress.bytes, final: false };
  }
}

const LOAD_OPTIONS = {
  ref: { type: 'string' },
  tag: { type: 'string', multiple: true },
  platform: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

const LOAD_DETAILS = [
  '  --ref REF             load one image of the source: its OCI ref name or one of its names',
  '  --tag NAME            name the loaded image (repeatable; one image only)',
  '  --platform OS/ARCH    the platform to take from a multi-platform index (default: this host)',
  '  -q, --quiet           print only the image IDs',
].join('\n');

export const imageLoad: Command = {
  name: 'image load',
  summary: 'Load images from an OCI layout directory, an oci-archive or a docker-archive (plain, gzip or zstd)',
  usage: 'SRC [--ref REF] [--tag NAME] [--platform OS/ARCH]',
  details: LOAD_DETAILS,
  examples: ['podman save -o busybox.tar busybox && shibafu image load busybox.tar', 'shibafu image load ./oci-dir --ref 1.36 --tag tools/busybox:1.36'],
  options: LOAD_OPTIONS,
  args: { min: 1, max: 1 },
  run: (env, parsed) => load(env, parsed, parsed.positionals[0] as string),
};

export const loadAlias: Command = {
  name: 'load',
  summary: 'Load images from an archive (podman load)',
  usage: '-i SRC [--ref REF] [--tag NAME]',
  details: `  -i, --input SRC       the archive or layout to read\n${LOAD_DETAILS}`,
  examples: ['shibafu load -i busybox.tar'],
  options: { ...LOAD_OPTIONS, input: { type: 'string', short: 'i' } },
  args: { min: 0, max: 1 },
  run(env, parsed) {
    const src = (parsed.values.input as string | undefined) ?? parsed.positionals[0];
    if (src === undefined) throw new ShibafuError('USAGE', 'Cannot load: no archive given', { hint: 'shibafu load -i ARCHIVE' });
    return load(env, parsed, src);
  },
};

export const imageSave: Command = {
  name: 'image save',
  summary: 'Save images as an oci-archive (default), an OCI layout directory or a docker-archive',
  usage: 'IMAGE... -o DEST [--format oci-archive|oci-dir|docker-archive]',
  details: [
    '  -o, --output DEST     where to write (must not exist)',
    '  --format FORMAT       oci-archive (a tar of an OCI layout), oci-dir (the layout as a directory), docker-archive',
  ].join('\n'),
  examples: ['shibafu image save busybox -o busybox.tar', 'shibafu save busybox alpine --format docker-archive -o both.tar', 'skopeo inspect oci-archive:busybox.tar'],
  options: { output: { type: 'string', short: 'o' }, format: { type: 'string' } },
  args: { min: 1, max: 256 },
  async run(env, parsed) {
    const output = parsed.values.output as string | undefined;
    if (output === undefined) throw new ShibafuError('USAGE', 'Cannot save: no output given', { hint: 'shibafu image save IMAGE -o DEST' });
    const format = (parsed.values.format as string | undefined) ?? 'oci-archive';
    if (!FORMATS.includes(format as SaveFormat)) {
      throw new ShibafuError('USAGE', `Cannot save as "${format}": not a format shibafu writes`, { hint: `Use one of: ${FORMATS.join(', ')}` });
    }
    const saved = await withStore(env, null, async (store) => (await imagesOf(store)).save(parsed.positionals, { output, format: format as SaveFormat, signal: env.io.signal }));
    if (env.json) printJson(env.io, saved);
    else print(env.io, `Saved ${saved.images.length} image${saved.images.length > 1 ? 's' : ''} to ${saved.output} (${saved.format})\n`);
    return 0;
  },
};

export const saveAlias: Command = { ...imageSave, name: 'save' };
