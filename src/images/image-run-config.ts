/**
 * What a container of an image runs: the image's config with the user's overrides, as docker and
 * podman combine them (pure; umoci's image-config → runtime-spec conversion is the model):
 *
 *  - the command is Entrypoint + Cmd; CMD given on the command line replaces Cmd; `--entrypoint`
 *    replaces Entrypoint and drops the image's Cmd (docker's rule: a Cmd belongs to its Entrypoint);
 *  - Env is the image's, then each `-e` replaces the variable of its name or adds it;
 *  - `-w` and `-u` replace WorkingDir and User (a user name is resolved later, in the image's own
 *    /etc/passwd and /etc/group, when the container is made).
 */
import { ShibafuError } from '../errors.js';
import type { ImageRunConfig } from '../oci/image-config.js';

export interface RunOverrides {
  /** CMD [ARG...] after the image on the command line (empty: the image's Cmd). */
  readonly cmd: readonly string[];
  /** `--entrypoint`: undefined keeps the image's; [] clears it. */
  readonly entrypoint?: readonly string[];
  /** `-e` entries, already expanded to NAME=VALUE. */
  readonly env: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
}

export interface ImageRun {
  readonly args: string[];
  readonly env: string[];
  readonly workdir: string | undefined;
  readonly user: string | undefined;
}

/**
 * @example
 * imageRunOf({ entrypoint: ['/bin/sh', '-c'], cmd: ['echo hi'], env: ['A=1'], ... }, { cmd: [], env: ['A=2'] })
 * // { args: ['/bin/sh', '-c', 'echo hi'], env: ['A=2'], workdir: undefined, user: undefined }
 */
export function imageRunOf(image: ImageRunConfig, o: RunOverrides, imageName: string): ImageRun {
  const entrypoint = o.entrypoint ?? image.entrypoint ?? [];
  const cmd = o.cmd.length > 0 ? o.cmd : o.entrypoint !== undefined ? [] : image.cmd ?? [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new ShibafuError('USAGE', `Cannot run image ${imageName}: it names no command (no Entrypoint or Cmd) and none was given`, {
      hint: `Give one: shibafu run ${imageName} sh`,
    });
  }
  return { args, env: mergeEnv(image.env, o.env), workdir: o.workdir ?? image.workingDir, user: o.user ?? image.user };
}

/** The image's variables, each replaced by a later one of its name; order kept (new ones last). */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...overrides]) {
    const eq = e.indexOf('=');
    out.set(eq < 0 ? e : e.slice(0, eq), e);
  }
  return [...out.values()];
}

/**
 * `--entrypoint` as podman reads it: a JSON array, or one word (the program alone); "" clears it.
 *
 * @example
 * parseEntrypoint('["/bin/sh","-c"]') // ['/bin/sh', '-c']
 * parseEntrypoint('/bin/true')        // ['/bin/true']
 */
export function parseEntrypoint(text: string): string[] {
  if (text === '') return [];
  if (text.trimStart().startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      throw new ShibafuError('USAGE', `Cannot use --entrypoint ${text}: not a JSON list of strings`, { hint: 'Example: --entrypoint \'["/bin/sh","-c"]\' or --entrypoint /bin/sh' });
    }
    return v as string[];
  }
  return [text];
}
