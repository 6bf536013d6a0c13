import type { Command } from '../command.js';
import { flag, str } from '../command.js';
import { printJson, table, ago } from '../render.js';
import { withStore } from '../with-store.js';
import { type ChainId, ShibafuError, shortId } from '../../index.js';
import { print } from '../io.js';

export const layerMount: Command = {
  name: 'layer mount',
  summary: 'Mount layers (each with its ancestors, bottom first) with overlayfs, up to 500 lowers',
  usage: 'LAYER[,LAYER...] TARGET [--writable] [--volatile] [--mount-api auto|new|legacy]',
  details: [
    '  --writable          add an upper and work dir under the store (dropped at umount)',
    '  --volatile          with --writable: no syncs on the upper (overlay "volatile"); for throw-away data',
    '  --mount-api API     new: fsopen + one fsconfig("lowerdir+") per layer; legacy: mount(2) with',
    '                      short links; auto (default): new where the kernel has lowerdir+ (6.8+)',
  ].join('\n'),
  examples: ['shibafu layer mount alpine-base,my-app /mnt/rootfs', 'shibafu layer mount app /mnt/rw --writable'],
  options: {
    writable: { type: 'boolean', short: 'w' },
    volatile: { type: 'boolean' },
    'mount-api': { type: 'string' },
  },
  args: { min: 2, max: 2 },
  async run(env, parsed) {
    const [refs, target] = parsed.positionals as [string, string];
    const api = str(parsed, 'mount-api') ?? 'auto';
    if (api !== 'auto' && api !== 'new' && api !== 'legacy') throw new ShibafuError('USAGE', `Cannot use --mount-api ${api}: expected auto, new or legacy`);
    const view = await withStore(env, null, (store) => store.mountLayers({
      layers: refs.split(',').filter((r) => r !== ''),
      target: target.startsWith('/') ? target : `${env.io.cwd}/${target}`,
      writable: flag(parsed, 'writable'),
      volatile: flag(parsed, 'volatile'),
      api,
    }));
    if (env.json) {
      printJson(env.io, view);
      return 0;
    }
    print(env.io, `mounted ${view.layers.length} layer${view.layers.length === 1 ? '' : 's'} at ${view.target} (${view.writable ? 'writable' : 'read-only'}, ${view.api} mount API)\n`);
    view.layers.slice().reverse().forEach((l, i) => {
      print(env.io, `  ${i === 0 ? 'top   ' : i === view.layers.length - 1 ? 'bottom' : '      '} ${l.chainId === null ? '?' : shortId(l.chainId as ChainId)} ${l.names.join(',')}\n`);
    });
    if (view.upper !== null) print(env.io, `  upper  ${view.upper}\n`);
    return 0;
  },
};

export const layerUmount: Command = {
  name: 'layer umount',
  summary: 'Unmount a stack mounted with `layer mount` (idempotent)',
  usage: 'TARGET [--lazy]',
  examples: ['shibafu layer umount /mnt/rootfs'],
  options: { lazy: { type: 'boolean' } },
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const target = parsed.positionals[0] as string;
    const abs = target.startsWith('/') ? target : `${env.io.cwd}/${target}`;
    const r = await withStore(env, null, (store) => store.unmount(abs, { lazy: flag(parsed, 'lazy') }));
    if (env.json) printJson(env.io, { target: abs, ...r });
    else print(env.io, r.recorded ? `unmounted ${abs}\n` : `${abs} was not mounted; nothing to do\n`);
    return 0;
  },
};

export const layerMounts: Command = {
  name: 'layer mounts',
  summary: 'List the stacks mounted with `layer mount`',
  usage: '[--json]',
  examples: ['shibafu layer mounts'],
  options: {},
  args: { min: 0, max: 0 },
  async run(env) {
    const mounts = await withStore(env, null, (store) => store.listMounts());
    if (env.json) {
      printJson(env.io, mounts);
      return 0;
    }
    const rows = [['TARGET', 'LAYERS', 'MODE', 'API', 'CREATED', 'STATE']];
    for (const m of mounts) {
      const top = m.layers.at(-1);
      rows.push([m.target, `${m.layers.length} (top: ${top?.names[0] ?? (top?.chainId ? shortId(top.chainId as ChainId) : '?')})`, m.writable ? 'rw' : 'ro', m.api, ago(m.created), m.mounted ? 'mounted' : 'stale']);
    }
    print(env.io, `${table(rows)}\n`);
    return 0;
  },
};
