/**
 * A container's settings as the user gave them (stored as JSON in the containers table), and the
 * parsing of the options that make them: volumes, env files, names. Pure.
 */
import { posix } from 'node:path';
import { randomBytes } from '../sys/random.js';
import { ShibafuError } from '../errors.js';
import type { VolumeSpec } from '../runtime/runtime-spec.js';

export type NetworkMode = 'none' | 'host';

/** What `run` / `container create` record; the runtime spec is derived from it at create time. */
export interface ContainerConfig {
  readonly args: readonly string[];
  /** `K=V` entries from -e and --env-file, in order (later wins). */
  readonly env: readonly string[];
  /** Absolute working directory; default "/". */
  readonly workdir: string;
  /** As given to -u (USER[:GROUP], names or ids); undefined: root. */
  readonly user?: string;
  readonly tty: boolean;
  readonly interactive: boolean;
  readonly hostname?: string;
  readonly volumes: readonly VolumeSpec[];
  readonly readOnly: boolean;
  readonly network: NetworkMode;
  /** The OCI runtime: a path or a program name looked up in PATH. */
  readonly runtime: string;
  /** `--rm`: removed when it ends; its upper is mounted volatile (no syncs). */
  readonly autoRemove: boolean;
  readonly noNewPrivileges: boolean;
}

export const DEFAULT_RUNTIME = 'runc';

/**
 * Fills defaults and checks a config.
 *
 * @example
 * containerConfig({ args: ['sh'] }) // { args: ['sh'], env: [], workdir: '/', tty: false, ..., runtime: 'runc' }
 */
export function containerConfig(partial: Partial<ContainerConfig> & { args: readonly string[] }): ContainerConfig {
  if (partial.args.length === 0) throw new ShibafuError('USAGE', 'Cannot create a container: no command given', { hint: 'Example: shibafu run --layers base sh -c "echo hi"' });
  const workdir = partial.workdir ?? '/';
  if (!workdir.startsWith('/')) throw new ShibafuError('USAGE', `Cannot use working directory "${workdir}": it must be absolute`, { hint: 'Example: -w /app' });
  for (const e of partial.env ?? []) {
    if (e.startsWith('=') || e === '') throw new ShibafuError('USAGE', `Cannot set environment entry "${e}": expected NAME=VALUE`);
  }
  if (partial.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(partial.hostname)) {
    throw new ShibafuError('USAGE', `Cannot use hostname "${partial.hostname}": expected letters, digits, dots and dashes (at most 63)`);
  }
  return {
    args: [...partial.args],
    env: [...(partial.env ?? [])],
    workdir: posix.resolve('/', workdir),
    ...(partial.user !== undefined && partial.user !== '' ? { user: partial.user } : {}),
    tty: partial.tty === true,
    interactive: partial.interactive === true,
    ...(partial.hostname !== undefined ? { hostname: partial.hostname } : {}),
    volumes: [...(partial.volumes ?? [])],
    readOnly: partial.readOnly === true,
    network: partial.network ?? 'none',
    runtime: partial.runtime ?? DEFAULT_RUNTIME,
    autoRemove: partial.autoRemove === true,
    noNewPrivileges: partial.noNewPrivileges === true,
  };
}

/**
 * Parses `-v HOSTDIR:DIR[:ro|rw]`; a relative HOSTDIR is taken from `cwd`.
 *
 * @example
 * parseVolume('/srv/data:/data:ro', '/') // { source: '/srv/data', destination: '/data', readonly: true }
 */
export function parseVolume(spec: string, cwd: string): VolumeSpec {
  const parts = spec.split(':');
  const [source, destination, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || source === '' || destination === undefined || destination === '') {
    throw new ShibafuError('USAGE', `Cannot use volume "${spec}": expected HOSTDIR:DIR[:ro]`, { hint: 'Example: -v /srv/data:/data:ro' });
  }
  if (!destination.startsWith('/')) throw new ShibafuError('USAGE', `Cannot use volume "${spec}": the container path must be absolute`);
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw new ShibafuError('USAGE', `Cannot use volume "${spec}": mode must be ro or rw`);
  if (posix.resolve('/', destination) === '/') throw new ShibafuError('USAGE', `Cannot use volume "${spec}": it would hide the whole root file system`);
  return { source: posix.resolve(cwd, source as string), destination: posix.resolve('/', destination), readonly: mode === 'ro' };
}

/**
 * Parses an env file as podman does: one `NAME=VALUE` per line, `#` comments and blank lines
 * skipped, no quoting; a bare `NAME` takes the value from `lookup` (the caller's environment) and
 * is dropped when unset there.
 *
 * @example
 * parseEnvFile('# db\nHOST=db\nPORT=5432\n', () => undefined) // ['HOST=db', 'PORT=5432']
 */
export function parseEnvFile(text: string, lookup: (name: string) => string | undefined): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const entry = expandEnvEntry(line.trimStart(), lookup);
    if (entry !== null) out.push(entry);
  }
  return out;
}

/**
 * `NAME=VALUE` stays; a bare `NAME` takes the caller's value (null when unset), as `-e NAME` does.
 *
 * @example
 * expandEnvEntry('HOME', (n) => process.env[n]) // 'HOME=/root'
 */
export function expandEnvEntry(entry: string, lookup: (name: string) => string | undefined): string | null {
  const eq = entry.indexOf('=');
  if (eq === 0) throw new ShibafuError('USAGE', `Cannot set environment entry "${entry}": expected NAME=VALUE`);
  if (eq > 0) return entry;
  const value = lookup(entry);
  return value === undefined ? null : `${entry}=${value}`;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Checks a container name (podman's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`). */
export function validateContainerName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new ShibafuError('INVALID_NAME', `Cannot name a container "${name}": use letters, digits, "_", "." and "-", starting with a letter or digit`, {
      hint: 'Example: --name web-1',
    });
  }
  return name;
}

// Grass words, after the project's name (shibafu: a lawn).
const ADJECTIVES = ['green', 'fresh', 'mown', 'dewy', 'sunny', 'quiet', 'soft', 'wild', 'tidy', 'lush', 'bright', 'calm', 'early', 'gentle', 'hardy', 'keen'];
const NOUNS = ['lawn', 'meadow', 'clover', 'fescue', 'sprout', 'blade', 'turf', 'sod', 'moss', 'reed', 'bamboo', 'sedge', 'field', 'garden', 'prairie', 'yard'];

/**
 * A random `adjective_noun_NNNN` name (podman picks adjective_surname); the caller retries on a clash.
 *
 * @example
 * generateName() // 'dewy_clover_4821'
 */
export function generateName(random: () => Buffer = () => randomBytes(4)): string {
  const b = random();
  const n = b.readUInt32BE(0);
  return `${ADJECTIVES[n % ADJECTIVES.length]}_${NOUNS[(n >>> 8) % NOUNS.length]}_${((n >>> 16) % 9000) + 1000}`;
}

/** A fresh 64-hex container id. */
export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * Parses the config column (rows written by this version or an older one).
 *
 * @example
 * parseStoredConfig(row.config).tty
 */
export function parseStoredConfig(json: string): ContainerConfig {
  return containerConfig(JSON.parse(json) as ContainerConfig);
}
