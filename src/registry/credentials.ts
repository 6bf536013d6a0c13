/**
 * Where registry credentials live and how `login`/`logout` change them, as podman, skopeo and
 * buildah do (containers-auth.json(5)): the read/write file is `--authfile`, else
 * `REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json` (root without
 * XDG_RUNTIME_DIR: `/run/containers/0/auth.json`); when it has nothing for a registry,
 * `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`) and Docker's
 * `$DOCKER_CONFIG/config.json` (`~/.docker/config.json`) are read, never written.
 * The caller passes the environment in (the library never reads process.env).
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errnoCode, fromSystemError, ShibafuError } from '../errors.js';
import { lookupAuth, parseAuthFile, withLogin, withoutLogin, type AuthFile, type RegistryCredentials } from './auth-file.js';

/** The files to read credentials from, in order; `primary` is the one login and logout write. */
export interface AuthFilePaths {
  readonly primary: string;
  readonly fallbacks: readonly string[];
}

/** The environment variables that place the files (the CLI passes its own). */
export interface AuthEnv {
  readonly REGISTRY_AUTH_FILE?: string | undefined;
  readonly XDG_RUNTIME_DIR?: string | undefined;
  readonly XDG_CONFIG_HOME?: string | undefined;
  readonly HOME?: string | undefined;
  readonly DOCKER_CONFIG?: string | undefined;
}

/**
 * The credential files for this user, in lookup order.
 *
 * @example
 * authFilePaths({ env: io.env, uid: 0 })
 * // { primary: '/run/containers/0/auth.json', fallbacks: ['/root/.config/containers/auth.json', '/root/.docker/config.json'] }
 * authFilePaths({ env: io.env, uid: 0, authFile: './auth.json' }).primary // './auth.json'
 */
export function authFilePaths(options: { env: AuthEnv; uid: number; authFile?: string | undefined }): AuthFilePaths {
  const { env } = options;
  const set = (v: string | undefined): v is string => v !== undefined && v !== '';
  const runtime = set(env.XDG_RUNTIME_DIR) ? env.XDG_RUNTIME_DIR : `/run/containers/${options.uid}`;
  const primary = set(options.authFile) ? options.authFile
    : set(env.REGISTRY_AUTH_FILE) ? env.REGISTRY_AUTH_FILE
      : set(env.XDG_RUNTIME_DIR) ? join(runtime, 'containers', 'auth.json') : join(runtime, 'auth.json');
  const fallbacks: string[] = [];
  const home = set(env.HOME) ? env.HOME : undefined;
  const config = set(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : home === undefined ? undefined : join(home, '.config');
  if (config !== undefined) fallbacks.push(join(config, 'containers', 'auth.json'));
  const docker = set(env.DOCKER_CONFIG) ? env.DOCKER_CONFIG : home === undefined ? undefined : join(home, '.docker');
  if (docker !== undefined) fallbacks.push(join(docker, 'config.json'));
  return { primary, fallbacks: fallbacks.filter((p) => p !== primary) };
}

/** The credentials found for a registry, and the ones passed over with the reason. */
export interface FoundCredentials {
  readonly credentials: RegistryCredentials | null;
  /** The file and key they came from. */
  readonly source: { readonly path: string; readonly key: string } | null;
  /** Entries shibafu cannot use (credential helpers, identity tokens): for the hint of a 401. */
  readonly unusable: readonly string[];
}

/**
 * Looks up the credentials for a registry (and repository, for namespace keys) in the files,
 * in order. A missing file is skipped; an unreadable one is AUTH_FILE_INVALID.
 *
 * @example
 * const found = findCredentials(authFilePaths({ env, uid }), 'localhost:5000', 'team/app');
 * const client = new RegistryClient({ registry: 'localhost:5000', credentials: found.credentials });
 */
export function findCredentials(paths: AuthFilePaths, registry: string, repository?: string): FoundCredentials {
  const unusable: string[] = [];
  for (const path of [paths.primary, ...paths.fallbacks]) {
    const file = readAuthFile(path);
    if (file === null) continue;
    const found = lookupAuth(file, registry, repository);
    if (found.kind === 'found') return { credentials: found.credentials, source: { path, key: found.key }, unusable };
    if (found.kind === 'unusable') unusable.push(found.reason);
  }
  return { credentials: null, source: null, unusable };
}

/**
 * Stores credentials for `key` in `path` (created 0600 in a 0700 dir if missing), keeping every
 * other entry and field. The file is replaced by rename, so a reader never sees half of it.
 *
 * @example
 * saveCredentials('/run/containers/0/auth.json', 'localhost:5000', { username: 'u', password: 'p' });
 */
export function saveCredentials(path: string, key: string, credentials: RegistryCredentials): void {
  const file = readAuthFile(path);
  writeAuthFile(path, withLogin(file?.json ?? {}, key, credentials));
}

/**
 * Removes the entries for `key` (or every entry with `key` null) from `path`; returns the keys
 * removed (none: the file is left untouched).
 *
 * @example
 * removeCredentials('/run/containers/0/auth.json', 'localhost:5000') // ['localhost:5000']
 */
export function removeCredentials(path: string, key: string | null): string[] {
  const file = readAuthFile(path);
  if (file === null) return [];
  const { json, removed } = withoutLogin(file.json, key);
  if (removed.length > 0) writeAuthFile(path, json);
  return removed;
}

/**
 * The parsed file, or null when it does not exist.
 *
 * @example
 * readAuthFile('/root/.docker/config.json')?.json.auths
 */
export function readAuthFile(path: string): AuthFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw fromSystemError(err, `read credentials file ${path}`);
  }
  return parseAuthFile(text, path);
}

function writeAuthFile(path: string, json: Record<string, unknown>): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(json, null, '\t')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // The umask may have narrowed the mode, never widened it; 0600 whatever it is.
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    if (err instanceof ShibafuError) throw err;
    throw fromSystemError(err, `write credentials file ${path}`);
  }
}
