/**
 * `shibafu image ls|inspect|history|tag|untag|rm`, with podman's aliases (`images`, `rmi`, `tag`).
 */
import type { Command } from '../command.js';
import { ago, humanSize, printJson, table } from '../render.js';
import { withStore } from '../with-store.js';
import { imagesOf, ShibafuError, shortId, splitImageName, type ImageRemoval } from '../../index.js';
import { print } from '../io.js';

const KEY_WIDTH = 'WorkingDir:'.length;

export const imageLs: Command = {
  name: 'image ls',
  summary: 'List images: repository, tag, image ID, created, size',
  usage: '[--json]',
  examples: ['shibafu image ls', 'shibafu images --json | jq -r ".[].id"'],
  options: {},
  args: { min: 0, max: 0 },
  async run(env) {
    const images = await withStore(env, null, async (store) => (await imagesOf(store)).list());
    if (env.json) {
      printJson(env.io, images);
      return 0;
    }
    const now = Date.now();
    const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'PLATFORM']];
    for (const i of images) {
      const names = i.names.length > 0 ? i.names.map(splitImageName) : [{ repository: '<none>', tag: '<none>' }];
      for (const n of names) rows.push([n.repository, n.tag, shortId(i.id), ago(i.created, now), humanSize(i.size), i.platform]);
    }
    print(env.io, `${table(rows)}\n`);
    return 0;
  },
};

export const images: Command = { ...imageLs, name: 'images' };

export const imageInspect: Command = {
  name: 'image inspect',
  summary: 'Show an image: names, digests, platform, layers, and what it runs',
  usage: 'IMAGE [--json]',
  examples: ['shibafu image inspect busybox', 'shibafu image inspect 3f2a9c --json | jq .config.cmd'],
  options: {},
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const d = await withStore(env, null, async (store) => (await imagesOf(store)).inspect(parsed.positionals[0] as string));
    if (env.json) {
      printJson(env.io, d);
      return 0;
    }
    const list = (v: readonly string[] | undefined): string => (v === undefined ? '-' : JSON.stringify(v));
    const lines: [string, string][] = [
      ['Names', d.names.join(', ') || '<none>'],
      ['ID', d.id],
      ['Digest', d.digest],
      ['MediaType', d.mediaType],
      ['Index', d.index ?? '-'],
      ['Platform', d.platform],
      ['Created', d.created],
      ['Loaded', d.loaded],
      ['Size', `${humanSize(d.size)} (${d.size} bytes)`],
      ['Entrypoint', list(d.config.entrypoint)],
      ['Cmd', list(d.config.cmd)],
      ['Env', d.config.env.length === 0 ? '-' : d.config.env.join('\n' + ' '.repeat(KEY_WIDTH + 1))],
      ['WorkingDir', d.config.workingDir ?? '-'],
      ['User', d.config.user ?? '-'],
      ['Layers', d.rootfs.length === 0 ? '-' : d.rootfs.map((l) => `${l.chainId} (${humanSize(l.size)}${l.blob === null ? '' : `, blob ${shortId(l.blob)}`})`).join('\n' + ' '.repeat(KEY_WIDTH + 1))],
    ];
    for (const [k, v] of lines) print(env.io, `${`${k}:`.padEnd(KEY_WIDTH)} ${v}\n`);
    return 0;
  },
};

export const imageHistory: Command = {
  name: 'image history',
  summary: 'Show the steps an image was built in, newest first, with the layer each made',
  usage: 'IMAGE [--json]',
  examples: ['shibafu image history busybox'],
  options: {},
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const lines = await withStore(env, null, async (store) => (await imagesOf(store)).history(parsed.positionals[0] as string));
    if (env.json) {
      printJson(env.io, lines);
      return 0;
    }
    const now = Date.now();
    const rows = [['LAYER', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
    for (const l of lines) {
      const by = l.createdBy ?? '';
      rows.push([l.layer === null ? '<missing>' : shortId(l.layer.diffId as never), l.created === undefined ? '-' : ago(l.created, now), by.length > 45 ? `${by.slice(0, 42)}...` : by, l.layer === null ? '0 B' : humanSize(l.layer.size), l.comment ?? '']);
    }
    print(env.io, `${table(rows)}\n`);
    return 0;
  },
};

export const imageTag: Command = {
  name: 'image tag',
  summary: 'Give an image another name (moved from any image that had it)',
  usage: 'IMAGE NAME...',
  examples: ['shibafu image tag busybox localhost:5000/tools/busybox:1.36', 'shibafu tag 3f2a9c my-base:v2'],
  options: {},
  args: { min: 2, max: 64 },
  async run(env, parsed) {
    const [ref, ...names] = parsed.positionals as [string, ...string[]];
    const stored = await withStore(env, null, async (store) => {
      const imgs = await imagesOf(store);
      return names.map((n) => imgs.tag(ref, n));
    });
    if (env.json) printJson(env.io, { tagged: stored });
    else for (const n of stored) print(env.io, `tagged ${n}\n`);
    return 0;
  },
};

export const tag: Command = { ...imageTag, name: 'tag' };

export const imageUntag: Command = {
  name: 'image untag',
  summary: 'Remove names from an image; the image itself stays',
  usage: 'IMAGE NAME...',
  examples: ['shibafu image untag busybox busybox:latest'],
  options: {},
  args: { min: 2, max: 64 },
  async run(env, parsed) {
    const [ref, ...names] = parsed.positionals as [string, ...string[]];
    const removed = await withStore(env, null, async (store) => {
      const imgs = await imagesOf(store);
      return names.map((n) => imgs.untag(ref, n));
    });
    if (env.json) printJson(env.io, { untagged: removed });
    else for (const n of removed) print(env.io, `untagged ${n}\n`);
    return 0;
  },
};

export const imageRm: Command = {
  name: 'image rm',
  summary: 'Remove images (a name of an image with several names: only that name), and their layers nothing else uses',
  usage: 'IMAGE... [--force]',
  details: '  -f, --force   remove an image with several names when given by its ID',
  examples: ['shibafu image rm busybox', 'shibafu rmi 3f2a9c --force'],
  options: { force: { type: 'boolean', short: 'f' } },
  args: { min: 1, max: 256 },
  async run(env, parsed) {
    const force = parsed.values.force === true;
    // As podman rmi: every image is tried; each removed one is named; refusals are reported after.
    const results: { ref: string; removal?: ImageRemoval; error?: unknown }[] = await withStore(env, null, async (store) => {
      const imgs = await imagesOf(store);
      return parsed.positionals.map((ref) => {
        try {
          return { ref, removal: imgs.remove(ref, { force }) };
        } catch (error) {
          return { ref, error };
        }
      });
    });
    const failed = results.filter((r) => r.error !== undefined);
    if (env.json) printJson(env.io, results.filter((r) => r.removal !== undefined).map((r) => ({ ref: r.ref, ...r.removal })));
    else {
      for (const r of results) {
        if (r.removal === undefined) continue;
        for (const n of r.removal.untagged) print(env.io, `Untagged: ${n}\n`);
        if (r.removal.removed !== null) print(env.io, `Deleted: ${r.removal.removed}\n`);
      }
    }
    if (failed.length === 0) return 0;
    for (const f of failed.slice(0, -1)) {
      const e = f.error as { code?: string; message?: string };
      env.io.stderr.write(`error[${e.code ?? 'INTERNAL'}]: ${e.message ?? String(f.error)}\n`);
    }
    throw (failed.at(-1) as { error: unknown }).error;
  },
};

export const rmi: Command = { ...imageRm, name: 'rmi' };

export const imageMount: Command = {
  name: 'image mount',
  summary: 'Mount an image\'s root file system read-only (its layers, merged by overlayfs)',
  usage: 'IMAGE TARGET',
  examples: ['shibafu image mount busybox /mnt/busybox && ls /mnt/busybox/bin', 'shibafu image umount /mnt/busybox'],
  options: {},
  args: { min: 2, max: 2 },
  async run(env, parsed) {
    const [ref, target] = parsed.positionals as [string, string];
    const view = await withStore(env, null, async (store) => {
      const image = (await imagesOf(store)).runTarget(ref);
      if (image === null) throw new ShibafuError('IMAGE_NOT_FOUND', `Cannot mount image "${ref}": no image has that name or ID`, { hint: 'See `shibafu image ls`.' });
      return store.mountLayers({ layers: [image.top], target: target.startsWith('/') ? target : `${env.io.cwd}/${target}` });
    });
    if (env.json) printJson(env.io, view);
    else print(env.io, `mounted image ${ref} (${view.layers.length} layer${view.layers.length === 1 ? '' : 's'}) at ${view.target}, read-only\n`);
    return 0;
  },
};

export const imageUmount: Command = {
  name: 'image umount',
  summary: 'Unmount an image mounted with `image mount`',
  usage: 'TARGET',
  examples: ['shibafu image umount /mnt/busybox'],
  options: {},
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const target = parsed.positionals[0] as string;
    const abs = target.startsWith('/') ? target : `${env.io.cwd}/${target}`;
    const r = await withStore(env, null, (store) => store.unmount(abs));
    if (!r.recorded) throw new ShibafuError('MOUNT_NOT_FOUND', `Cannot unmount ${abs}: no image or layers are mounted there`, { hint: 'See `shibafu layer mounts`.' });
    if (env.json) printJson(env.io, { target: abs, ...r });
    else print(env.io, `unmounted ${abs}\n`);
    return 0;
  },
};
