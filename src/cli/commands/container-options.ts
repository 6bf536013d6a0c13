/**
 * The options `run` and `container create` share (podman's names), and what they become: the layers,
 * the command line and a ContainerConfig. Also the attach plumbing of `run` and `start -a`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { StdioOptions } from 'node:child_process';
import type { OptionSpec, Parsed, CommandEnv } from '../command.js';
import { flag, list, str } from '../command.js';
import {
  type AttachOptions, containerConfig, type ContainerConfig, type Containers, containersOf, expandEnvEntry, fromSystemError, imageRunOf, imagesOf,
  parseEntrypoint, parseEnvFile, parseImageReference, parseVolume, registryApi, type RunTarget, ShibafuError, type Store,
} from '../../index.js';
import { reportError } from '../render.js';
import { authPathsOf, REGISTRY_OPTIONS, tlsVerifyOf } from '../registry-options.js';
import { withStore } from '../with-store.js';

export const CONTAINER_OPTIONS: OptionSpec = {
  layers: { type: 'string' },
  name: { type: 'string' },
  rm: { type: 'boolean' },
  interactive: { type: 'boolean', short: 'i' },
  tty: { type: 'boolean', short: 't' },
  env: { type: 'string', short: 'e', multiple: true },
  'env-file': { type: 'string', multiple: true },
  workdir: { type: 'string', short: 'w' },
  user: { type: 'string', short: 'u' },
  hostname: { type: 'string' },
  volume: { type: 'string', short: 'v', multiple: true },
  'read-only': { type: 'boolean' },
  network: { type: 'string' },
  runtime: { type: 'string' },
  'no-new-privileges': { type: 'boolean' },
  entrypoint: { type: 'string' },
  pull: { type: 'string' },
  ...REGISTRY_OPTIONS,
};

export const CONTAINER_OPTIONS_HELP = [
  '  IMAGE                 an image (name or ID): its layers, and its Entrypoint, Cmd, Env, WorkingDir, User',
  '  --layers A,B,...      a stack of layers instead (each brings its ancestors); or name one LAYER before CMD',
  '  --entrypoint CMD      replace the image\'s Entrypoint (a program, or a JSON list); drops its Cmd',
  '  --pull missing|always|never  pull the image first: when it is not here (default; only a reference',
  '                        with a registry, repository path, tag or digest, never a bare name), always, or never',
  '  --tls-verify=false, --authfile FILE   for the pull, as `shibafu pull` takes them',
  '  --name NAME           the container\'s name (default: a generated one)',
  '  --rm                  remove the container when it ends (its upper is mounted volatile: no syncs)',
  '  -i, --interactive     pass stdin to the container',
  '  -t, --tty             a terminal for the container (stdin, stdout or stderr must be one)',
  '  -e, --env K=V         set a variable (-e K alone takes it from this environment); repeatable',
  '  --env-file FILE       K=V lines (# comments); repeatable',
  '  -w, --workdir DIR     working directory inside the container (default: the image\'s, else /)',
  '  -u, --user U[:G]      user and group, ids or names from the container\'s /etc/passwd (default: the image\'s)',
  '  --hostname NAME       default: the first 12 characters of the id',
  '  -v, --volume H:C[:ro] bind-mount host directory H at C (read-only with :ro); repeatable',
  '  --read-only           read-only root (/tmp, /var/tmp, /run stay writable tmpfs)',
  '  --network none|host   none (default): loopback only; host: the host\'s network',
  '  --runtime PATH        the OCI runtime (default runc)',
  '  --no-new-privileges   setuid binaries cannot raise privileges',
].join('\n');

export interface ParsedContainer {
  readonly layers: string[];
  readonly name: string | undefined;
  readonly config: ContainerConfig;
  readonly imageId?: number;
}

/**
 * Turns parsed options and positionals (`IMAGE [CMD [ARG...]]`, or `[LAYER] CMD [ARG...]`) into
 * layers and a config; `image` is what the first positional names when it is an image.
 *
 * @example
 * parseContainerOptions(env, parsed, null) // { layers: ['base'], name: undefined, config: {...} }
 */
export function parseContainerOptions(env: CommandEnv, parsed: Parsed, image: RunTarget | null): ParsedContainer {
  const layersOpt = str(parsed, 'layers');
  const positionals = [...parsed.positionals];
  const layerArg = layersOpt ?? positionals.shift();
  const layers = image !== null ? [image.top] : (layerArg ?? '').split(',').filter((l) => l !== '');
  if (layers.length === 0) throw new ShibafuError('USAGE', 'Cannot create a container: name its image or layers', { hint: 'Example: shibafu run busybox sh, or shibafu run --layers base,app sh' });
  if (image === null && positionals.length === 0) throw new ShibafuError('USAGE', 'Cannot create a container: no command given', { hint: 'Example: shibafu run --layers base sh -c "echo hi"' });
  if (image === null && str(parsed, 'entrypoint') !== undefined) throw new ShibafuError('USAGE', 'Cannot use --entrypoint with layers: only an image has one', { hint: 'Give the command after the layer instead.' });
  const lookup = (n: string): string | undefined => env.io.env[n];
  const envEntries: string[] = [];
  for (const file of list(parsed, 'env-file')) envEntries.push(...parseEnvFile(readEnvFile(env, file), lookup));
  for (const e of list(parsed, 'env')) {
    const entry = expandEnvEntry(e, lookup);
    if (entry !== null) envEntries.push(entry);
  }
  const network = str(parsed, 'network') ?? 'none';
  if (network !== 'none' && network !== 'host') throw new ShibafuError('USAGE', `Cannot use --network ${network}: expected none or host`);
  const entrypoint = str(parsed, 'entrypoint');
  const run = image === null
    ? { args: positionals, env: envEntries, workdir: str(parsed, 'workdir'), user: str(parsed, 'user') }
    : imageRunOf(image.run, {
      cmd: positionals, env: envEntries, ...(entrypoint !== undefined ? { entrypoint: parseEntrypoint(entrypoint) } : {}),
      ...(str(parsed, 'workdir') !== undefined ? { workdir: str(parsed, 'workdir') } : {}), ...(str(parsed, 'user') !== undefined ? { user: str(parsed, 'user') } : {}),
    }, image.ref);
  const config = containerConfig({
    args: run.args,
    env: run.env,
    ...(run.workdir !== undefined ? { workdir: run.workdir } : {}),
    ...(run.user !== undefined ? { user: run.user } : {}),
    ...(str(parsed, 'hostname') !== undefined ? { hostname: str(parsed, 'hostname') } : {}),
    tty: flag(parsed, 'tty'),
    interactive: flag(parsed, 'interactive'),
    volumes: list(parsed, 'volume').map((v) => parseVolume(v, env.io.cwd)),
    readOnly: flag(parsed, 'read-only'),
    network,
    ...(str(parsed, 'runtime') !== undefined ? { runtime: str(parsed, 'runtime') } : {}),
    autoRemove: flag(parsed, 'rm'),
    noNewPrivileges: flag(parsed, 'no-new-privileges'),
  });
  return { layers, name: str(parsed, 'name'), config, ...(image !== null ? { imageId: image.imageId } : {}) };
}

function readEnvFile(env: CommandEnv, file: string): string {
  try {
    return readFileSync(file.startsWith('/') ? file : `${env.io.cwd}/${file}`, 'utf8');
  } catch (err) {
    throw fromSystemError(err, `read env file ${file}`);
  }
}

/** isatty(3); node:tty brings node:net and the stream classes (~6 ms), so it is loaded for -t only. */
function isTerminal(fd: number): boolean {
  return (createRequire(import.meta.url)('node:tty') as typeof import('node:tty')).isatty(fd);
}

/** Signals sent to shibafu that reach the container (podman's --sig-proxy). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * How an attached container gets this process's stdio and signals.
 *
 * @example
 * await store.containers.run({ ...created, ...attachOptions(env, config) });
 */
export function attachOptions(env: CommandEnv, config: ContainerConfig): AttachOptions {
  const fds = env.io.stdioFds;
  if (config.tty && (fds === undefined || !fds.some((fd) => isTerminal(fd)))) {
    throw new ShibafuError('USAGE', 'Cannot give the container a terminal (-t): none of stdin, stdout, stderr is one', {
      hint: 'Run from a terminal, or drop -t (use -i to pass piped input).',
    });
  }
  // With -t the runtime copies between its stdin and the container's terminal, so it gets ours.
  const stdin = config.interactive || config.tty;
  const stdio: StdioOptions = fds !== undefined
    ? [stdin ? fds[0] : 'ignore', fds[1], fds[2]]
    : [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'];
  const trap = env.io.trapSignals;
  return {
    stdio,
    ...(fds === undefined ? { pipes: { ...(stdin ? { stdin: env.io.stdin } : {}), stdout: env.io.stdout, stderr: env.io.stderr } } : {}),
    // SIGWINCH: the runtime, in its own session, no longer hears the terminal's resizes itself.
    ...(trap !== undefined ? { forwardSignals: (fwd: (sig: NodeJS.Signals) => void) => trap(config.tty ? [...FORWARDED, 'SIGWINCH'] : FORWARDED, fwd) } : {}),
    signal: env.io.signal,
  };
}

/**
 * `run`'s failures before the container runs: 125, or 126/127 when the command cannot be invoked
 * or found (docker's and podman's convention); an interrupt stays 130.
 */
export function runFailure(env: CommandEnv, err: unknown): number {
  const status = reportError(env.io, err);
  return status === 126 || status === 127 || status === 130 ? status : 125;
}

/**
 * Opens the store, loads its containers facade, runs `fn`, closes the store.
 *
 * @example
 * const views = await withContainers(env, (containers) => containers.list({ all: true }));
 */
export function withContainers<T>(env: CommandEnv, fn: (containers: Containers) => Promise<T> | T): Promise<T> {
  return withStore(env, null, async (store) => fn(await containersOf(store)));
}

/**
 * withContainers for `run` and `container create`: their options parsed with the image the
 * first positional names, when it names one (without `--layers`; an image wins over a layer of
 * the same name, as `--layers NAME` picks the layer).
 */
export function withContainersFor<T>(env: CommandEnv, parsed: Parsed, fn: (containers: Containers, o: ParsedContainer) => Promise<T> | T): Promise<T> {
  const policy = str(parsed, 'pull') ?? 'missing';
  if (policy !== 'missing' && policy !== 'always' && policy !== 'never') throw new ShibafuError('USAGE', `Cannot use --pull ${policy}: expected missing, always or never`);
  return withStore(env, null, async (store) => {
    const first = parsed.positionals[0];
    let image: RunTarget | null = null;
    if (str(parsed, 'layers') === undefined && first !== undefined) {
      const images = await imagesOf(store);
      image = policy === 'always' ? null : images.runTarget(first);
      // A bare word is a layer's name as much as an image's: it is pulled only when asked (always).
      const pullable = policy === 'always' || (policy === 'missing' && image === null && /[/:@]/.test(first) && !isLayer(store, first));
      if (pullable) {
        await pullForRun(env, parsed, store, first);
        image = images.runTarget(first);
      } else if (image === null && policy === 'never' && /[/:@]/.test(first) && !isLayer(store, first)) {
        throw new ShibafuError('IMAGE_NOT_FOUND', `Cannot run image ${first}: it is not in the store, and --pull never does not fetch it`, {
          hint: `Pull it first: shibafu pull ${first}`,
        });
      }
    }
    return fn(await containersOf(store), parseContainerOptions(env, parsed, image));
  });
}

function isLayer(store: Store, ref: string): boolean {
  try {
    store.resolve(ref);
    return true;
  } catch {
    return false;
  }
}

/** `run --pull`: the image from its registry, quietly (its errors are run's, exit 125). */
async function pullForRun(env: CommandEnv, parsed: Parsed, store: Store, text: string): Promise<void> {
  const ref = parseImageReference(text);
  const api = await registryApi();
  const found = api.findCredentials(authPathsOf(env, parsed, api), ref.registry, ref.repository);
  const client = new api.RegistryClient({ registry: ref.registry, credentials: found.credentials, unusableCredentials: found.unusable, tlsVerify: tlsVerifyOf(parsed) });
  try {
    await (await imagesOf(store)).pull(ref, { registry: client, signal: env.io.signal });
  } finally {
    client.close();
  }
}
