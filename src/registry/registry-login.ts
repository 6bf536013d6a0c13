/**
 * `login` and `logout` as podman does them: credentials are checked against the registry
 * before they are saved (a typo must not be stored), and saved in the read/write credentials
 * file only; logout removes them from there and, when they live in a file shibafu only reads
 * (Docker's config.json), says which tool wrote them instead of pretending.
 */
import { ShibafuError } from '../errors.js';
import type { RegistryCredentials } from './auth-file.js';
import { findCredentials, readAuthFile, removeCredentials, saveCredentials, type AuthFilePaths } from './credentials.js';
import { lookupAuth } from './auth-file.js';
import { parseRegistryKey } from './reference.js';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';

export interface LoginOptions {
  /** `HOST[:PORT]`, optionally with a namespace (`quay.io/team`). */
  readonly registry: string;
  /** The credentials to check and save; null: check the ones saved already. */
  readonly credentials: RegistryCredentials | null;
  readonly paths: AuthFilePaths;
  readonly tlsVerify?: boolean;
  readonly signal?: AbortSignal | undefined;
  /** For tests: the HTTP port and retries the check uses. */
  readonly client?: Pick<RegistryClientOptions, 'transport' | 'retry'>;
}

export interface LoginResult {
  readonly registry: string;
  /** The key the credentials are saved under (the registry, or registry/namespace). */
  readonly key: string;
  readonly username: string;
  /** The file written, or null when saved credentials were only checked. */
  readonly authFile: string | null;
}

/**
 * Checks credentials against the registry, then saves them (0600, atomic) in the primary file.
 * With no credentials given, checks those already saved ("already logged in"); none saved is
 * CREDENTIALS_NOT_FOUND. Refused credentials are REGISTRY_UNAUTHORIZED and nothing is written.
 *
 * @example
 * await loginToRegistry({ registry: 'localhost:5000', credentials: { username: 'u', password: 'p' }, paths, tlsVerify: false });
 */
export async function loginToRegistry(options: LoginOptions): Promise<LoginResult> {
  const { registry, key } = parseRegistryKey(options.registry);
  let credentials = options.credentials;
  if (credentials === null) {
    const found = findCredentials({ primary: options.paths.primary, fallbacks: [] }, registry, key.slice(registry.length + 1) || undefined);
    if (found.credentials === null || found.source?.key !== key) {
      throw new ShibafuError('CREDENTIALS_NOT_FOUND', `Cannot log in to ${key}: no user name and password given, and none saved in ${options.paths.primary}`, {
        hint: `Give them: shibafu login -u USER --password-stdin ${key}`,
      });
    }
    credentials = found.credentials;
  }
  const client = new RegistryClient({ registry, credentials, tlsVerify: options.tlsVerify !== false, ...options.client });
  try {
    await client.checkLogin({ signal: options.signal });
  } finally {
    client.close();
  }
  if (options.credentials === null) return { registry, key, username: credentials.username, authFile: null };
  saveCredentials(options.paths.primary, key, credentials);
  return { registry, key, username: credentials.username, authFile: options.paths.primary };
}

export interface LogoutResult {
  /** The keys removed. */
  readonly removed: readonly string[];
  readonly authFile: string;
}

/**
 * Removes the saved credentials of a registry (or of every registry, `registry` null) from the
 * primary file. CREDENTIALS_NOT_FOUND when it has none for that registry; the hint names the
 * other file that has some (Docker's: `docker logout`).
 *
 * @example
 * logoutFromRegistry({ registry: 'localhost:5000', paths }) // { removed: ['localhost:5000'], authFile: '...' }
 */
export function logoutFromRegistry(options: { registry: string | null; paths: AuthFilePaths }): LogoutResult {
  const { primary } = options.paths;
  if (options.registry === null) return { removed: removeCredentials(primary, null), authFile: primary };
  const { registry, key } = parseRegistryKey(options.registry);
  const removed = removeCredentials(primary, key);
  if (removed.length > 0) return { removed, authFile: primary };
  const elsewhere = options.paths.fallbacks.find((path) => {
    const file = readAuthFile(path);
    return file !== null && lookupAuth(file, registry, key.slice(registry.length + 1) || undefined).kind !== 'none';
  });
  throw new ShibafuError('CREDENTIALS_NOT_FOUND', `Cannot log out of ${key}: not logged in (no credentials for it in ${primary})`, {
    ...(elsewhere === undefined ? {} : { hint: `Credentials for ${key} are in ${elsewhere}, which shibafu reads but never changes${elsewhere.endsWith('/config.json') ? ': docker logout removes them' : ''}.` }),
  });
}
