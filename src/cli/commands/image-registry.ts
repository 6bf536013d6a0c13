/**
 * `shibafu image pull REF` and `image push IMAGE [DEST]` (aliases `pull`, `push`): images from
 * and to a registry over the OCI distribution API, with the credentials podman, skopeo and
 * docker saved (docs/registries.md).
 */
import { writeFileSync } from 'node:fs';
import type { Command, CommandEnv, Parsed } from '../command.js';
import { flag, int, str } from '../command.js';
import { authPathsOf, REGISTRY_OPTIONS, REGISTRY_OPTIONS_HELP, tlsVerifyOf } from '../registry-options.js';
import { humanSize, printJson } from '../render.js';
import { LayerBars, type LayerLine } from '../layer-progress.js';
import { layerLabel, lineOf } from './image-archive.js';
import { withStore } from '../with-store.js';
import {
  imagesOf, parseImageReference, parsePlatform, registryApi, ShibafuError, shortId, type ImageReference, type PullProgress, type PushProgress, type RegistryClient,
} from '../../index.js';
import { print } from '../io.js';

/** A client for the registry of `ref`, with the credentials found for its repository. */
async function clientFor(env: CommandEnv, parsed: Parsed, ref: ImageReference): Promise<RegistryClient> {
  const api = await registryApi();
  const found = api.findCredentials(authPathsOf(env, parsed, api), ref.registry, ref.repository);
  return new api.RegistryClient({ registry: ref.registry, credentials: found.credentials, unusableCredentials: found.unusable, tlsVerify: tlsVerifyOf(parsed) });
}

function pullLine(p: PullProgress): LayerLine {
  return p.state === 'downloading' ? { state: 'downloading', bytes: p.downloaded, total: p.size, final: false } : lineOf(p);
}

function pushLine(p: PushProgress): LayerLine {
  switch (p.state) {
    case 'exists': return { state: 'already in the registry', final: true };
    case 'mounted': return { state: 'mounted from another repository', final: true };
    case 'uploaded': return { state: 'uploaded', final: true };
    default: return { state: 'uploading', bytes: p.bytes, total: p.size, final: false };
  }
}

async function pull(env: CommandEnv, parsed: Parsed, text: string): Promise<number> {
  const ref = parseImageReference(text);
  const platform = str(parsed, 'platform');
  const quiet = flag(parsed, 'quiet') || env.json;
  const bars = quiet ? null : new LayerBars(env.io);
  const client = await clientFor(env, parsed, ref);
  try {
    const pulled = await withStore(env, null, async (store) => (await imagesOf(store)).pull(ref, {
      registry: client, signal: env.io.signal, allPlatforms: flag(parsed, 'all-platforms'),
      ...(platform !== undefined ? { platform: parsePlatform(platform) } : {}),
      ...(int(parsed, 'jobs') !== undefined ? { jobs: int(parsed, 'jobs') } : {}),
      ...(bars !== null ? { onProgress: (p: PullProgress & { image: string }) => bars.update(p.digest, layerLabel(p), pullLine(p)) } : {}),
    })).finally(() => bars?.done());
    if (env.json) {
      printJson(env.io, pulled.map((l) => ({ id: l.image.configDigest, digest: l.image.manifestDigest, names: l.names, existed: l.existed, platform: l.image.platform, size: l.image.size })));
    } else if (flag(parsed, 'quiet')) {
      for (const l of pulled) print(env.io, `${l.image.configDigest}\n`);
    } else {
      for (const l of pulled) {
        print(env.io, `Pulled ${l.names[0] ?? text} (${shortId(l.image.configDigest)}, ${l.image.platform}, ${humanSize(l.image.size)}), digest ${l.image.manifestDigest}${l.existed ? ': already stored' : ''}\n`);
      }
    }
    return 0;
  } finally {
    client.close();
  }
}

const PULL_OPTIONS = {
  ...REGISTRY_OPTIONS,
  platform: { type: 'string' },
  'all-platforms': { type: 'boolean' },
  jobs: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

const PULL_DETAILS = [
  REGISTRY_OPTIONS_HELP,
  '  --platform OS/ARCH[/VARIANT]  the image to take from a multi-platform index (default: this host\'s)',
  '  --all-platforms      every image of the index (the name goes to this host\'s)',
  '  --jobs N             layers downloaded at once (default 6, as skopeo)',
  '  -q, --quiet          no progress; print the image IDs',
  'Every byte is checked against its digest. A dropped connection is resumed where it stopped; an',
  'interrupted pull keeps what it downloaded, and the next pull of the image goes on from there.',
].join('\n');

export const imagePull: Command = {
  name: 'image pull',
  summary: 'Pull an image from a registry (OCI distribution API): layers in parallel, unpacked as they stream',
  usage: 'REF [--platform OS/ARCH] [--all-platforms] [--tls-verify=false] [--authfile FILE]',
  details: PULL_DETAILS,
  examples: ['shibafu image pull --tls-verify=false localhost:5000/team/app:1', 'shibafu pull quay.io/team/tool@sha256:...', 'shibafu pull --platform linux/arm64 localhost:5000/multi:1'],
  options: PULL_OPTIONS,
  args: { min: 1, max: 1 },
  run: (env, parsed) => pull(env, parsed, parsed.positionals[0] as string),
};

export const pullAlias: Command = { ...imagePull, name: 'pull' };

export const imagePush: Command = {
  name: 'image push',
  summary: 'Push an image to a registry: the blobs it lacks (mounted or uploaded), then its manifest byte for byte',
  usage: 'IMAGE [DEST] [--digestfile FILE] [--tls-verify=false] [--authfile FILE]',
  details: [
    REGISTRY_OPTIONS_HELP,
    '  --digestfile FILE    write the manifest digest the registry has to FILE',
    '  -q, --quiet          no progress',
    'DEST is a reference (default: the image\'s own name). The manifest is sent as stored: the digest',
    'there is the image\'s digest here.',
  ].join('\n'),
  examples: ['shibafu image push --tls-verify=false localhost:5000/team/app:1', 'shibafu push app:1 localhost:5000/team/app:1 --digestfile app.digest'],
  options: { ...REGISTRY_OPTIONS, digestfile: { type: 'string' }, quiet: { type: 'boolean', short: 'q' } },
  args: { min: 1, max: 2 },
  async run(env, parsed) {
    const [image, destText] = parsed.positionals as [string, string | undefined];
    const result = await withStore(env, null, async (store) => {
      const images = await imagesOf(store);
      const named = destText ?? images.inspect(image).names[0];
      if (named === undefined) throw new ShibafuError('USAGE', `Cannot push image ${image}: it has no name to push it to`, { hint: `Give one: shibafu push ${image} REGISTRY/REPOSITORY:TAG` });
      const dest = parseImageReference(named);
      const bars = flag(parsed, 'quiet') || env.json ? null : new LayerBars(env.io);
      const client = await clientFor(env, parsed, dest);
      try {
        return await images.push(image, dest, {
          registry: client, signal: env.io.signal,
          ...(bars !== null ? { onProgress: (p: PushProgress) => bars.update(p.digest, `${dest.repository} blob ${p.digest.slice(7, 19)}`, pushLine(p)) } : {}),
        });
      } finally {
        bars?.done();
        client.close();
      }
    });
    const digestFile = str(parsed, 'digestfile');
    if (digestFile !== undefined) writeFileSync(digestFile.startsWith('/') ? digestFile : `${env.io.cwd}/${digestFile}`, result.digest);
    if (env.json) printJson(env.io, result);
    else print(env.io, `Pushed ${result.destination}: ${result.blobs.uploaded} blob${result.blobs.uploaded === 1 ? '' : 's'} uploaded, ${result.blobs.mounted} mounted, ${result.blobs.existed} already there; digest ${result.digest}\n`);
    return 0;
  },
};

export const pushAlias: Command = { ...imagePush, name: 'push' };
