/**
 * The credentials file format shared by containers' `auth.json` (containers-auth.json(5)) and
 * Docker's `config.json`: `{"auths": {KEY: {"auth": base64("user:password")}}}`, plus Docker's
 * `credHelpers` / `credsStore`, which name programs that keep the secrets elsewhere. A KEY is a
 * registry (`quay.io`), a registry with a namespace (`quay.io/team`), or, as `docker login`
 * writes it, a URL (`https://index.docker.io/v1/`). Pure: reading and writing files is
 * credentials.ts's.
 */
import { ShibafuError } from '../errors.js';
import { DOCKER_HUB } from './reference.js';

/** A user name and password (or token) for one registry. */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** One parsed file: its JSON kept whole, so a rewrite leaves every other key as it was. */
export interface AuthFile {
  readonly path: string;
  readonly json: Readonly<Record<string, unknown>>;
}

/** What one file says about a registry. */
export type AuthLookup =
  | { readonly kind: 'found'; readonly key: string; readonly credentials: RegistryCredentials }
  /** The secret is elsewhere (a credential helper, an identity token): shibafu cannot use it. */
  | { readonly kind: 'unusable'; readonly key: string; readonly reason: string }
  | { readonly kind: 'none' };

/**
 * Parses a credentials file. Throws AUTH_FILE_INVALID for text that is not a JSON object (the
 * file is then never rewritten: a login must not destroy what it cannot read).
 *
 * @example
 * parseAuthFile('{"auths":{}}', '/run/containers/0/auth.json')
 */
export function parseAuthFile(text: string, path: string): AuthFile {
  let json: unknown;
  try {
    json = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw invalid(path, `it is not valid JSON (${(err as Error).message})`, err);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid(path, 'it is not a JSON object');
  for (const field of ['auths', 'credHelpers'] as const) {
    const v = (json as Record<string, unknown>)[field];
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) throw invalid(path, `its "${field}" is not an object`);
  }
  return { path, json: json as Record<string, unknown> };
}

function invalid(path: string, why: string, cause?: unknown): ShibafuError {
  return new ShibafuError('AUTH_FILE_INVALID', `Cannot read credentials file ${path}: ${why}`, {
    hint: 'Fix or remove the file; shibafu does not rewrite a file it cannot read.',
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The registry (and namespace) a key names: a URL key (`https://index.docker.io/v1/`, as
 * `docker login` writes) is reduced to its host; `index.docker.io` is Docker Hub's `docker.io`.
 *
 * @example
 * normalizeAuthKey('https://index.docker.io/v1/') // 'docker.io'
 * normalizeAuthKey('quay.io/team') // 'quay.io/team'
 */
export function normalizeAuthKey(key: string): string {
  let k = key;
  if (/^https?:\/\//.test(k)) k = k.replace(/^https?:\/\//, '').split('/')[0] as string;
  const slash = k.indexOf('/');
  const host = slash < 0 ? k : k.slice(0, slash);
  const rest = slash < 0 ? '' : k.slice(slash);
  return `${host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host}${rest}`;
}

/**
 * The keys that may hold credentials for a repository, most specific first
 * (containers-auth.json(5)): `reg/ns/app`, `reg/ns`, `reg`.
 *
 * @example
 * lookupKeys('quay.io', 'ns/app') // ['quay.io/ns/app', 'quay.io/ns', 'quay.io']
 */
export function lookupKeys(registry: string, repository?: string): string[] {
  const keys: string[] = [];
  if (repository !== undefined && repository !== '') {
    const parts = repository.split('/');
    for (let n = parts.length; n > 0; n--) keys.push(`${registry}/${parts.slice(0, n).join('/')}`);
  }
  keys.push(registry);
  return keys;
}

/**
 * What a file holds for a registry (and repository). Docker's rules: a `credHelpers` entry for
 * the registry wins, then an `auths` entry with an `auth` string, then the global `credsStore`.
 * Throws AUTH_FILE_INVALID for an `auth` that is not base64 of `user:password`.
 *
 * @example
 * lookupAuth(file, 'localhost:5000', 'team/app') // { kind: 'found', key: 'localhost:5000', credentials: {...} }
 */
export function lookupAuth(file: AuthFile, registry: string, repository?: string): AuthLookup {
  const helpers = objectField(file.json, 'credHelpers');
  const helper = Object.entries(helpers).find(([k]) => normalizeAuthKey(k) === registry)?.[1];
  if (typeof helper === 'string' && helper !== '') {
    return { kind: 'unusable', key: registry, reason: `${file.path} gives the credentials for ${registry} to the credential helper docker-credential-${helper}, which shibafu does not run` };
  }
  const auths = objectField(file.json, 'auths');
  const byKey = new Map<string, unknown>();
  for (const [k, v] of Object.entries(auths)) {
    const n = normalizeAuthKey(k);
    // An exact key beats a URL form of the same registry.
    if (!byKey.has(n) || k === n) byKey.set(n, v);
  }
  for (const key of lookupKeys(registry, repository)) {
    const entry = byKey.get(key);
    if (typeof entry !== 'object' || entry === null) continue;
    const { auth, identitytoken } = entry as { auth?: unknown; identitytoken?: unknown };
    if (typeof identitytoken === 'string' && identitytoken !== '') {
      return { kind: 'unusable', key, reason: `${file.path} holds an identity token (OAuth2) for ${key}, which shibafu does not use` };
    }
    if (typeof auth === 'string' && auth !== '') return { kind: 'found', key, credentials: decodeAuth(auth, file.path, key) };
  }
  const store = file.json.credsStore;
  if (typeof store === 'string' && store !== '') {
    return { kind: 'unusable', key: registry, reason: `${file.path} keeps credentials in the store docker-credential-${store}, which shibafu does not run` };
  }
  return { kind: 'none' };
}

function objectField(json: Readonly<Record<string, unknown>>, name: string): Record<string, unknown> {
  const v = json[name];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

function decodeAuth(auth: string, path: string, key: string): RegistryCredentials {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(auth) || colon <= 0) {
    throw invalid(path, `the "auth" of "${key}" is not base64 of user:password`);
  }
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * The file's JSON with `key`'s entry set to the credentials (other entries, and every other
 * field of the file and of that entry, kept as they were).
 *
 * @example
 * withLogin(file.json, 'localhost:5000', { username: 'u', password: 'p' })
 * // { ...file.json, auths: { ..., 'localhost:5000': { auth: 'dTpw' } } }
 */
export function withLogin(json: Readonly<Record<string, unknown>>, key: string, credentials: RegistryCredentials): Record<string, unknown> {
  const auths = { ...objectField(json, 'auths') };
  const old = auths[key];
  const entry = typeof old === 'object' && old !== null && !Array.isArray(old) ? { ...old as Record<string, unknown> } : {};
  delete entry.identitytoken;
  entry.auth = Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64');
  auths[key] = entry;
  return { ...json, auths };
}

/**
 * The file's JSON without the entries for `key` (its exact form and any URL form of the same
 * registry, such as `https://index.docker.io/v1/` for `docker.io`), or every entry when `key`
 * is null; `removed` lists the keys dropped.
 *
 * @example
 * withoutLogin(file.json, 'localhost:5000') // { json: {...}, removed: ['localhost:5000'] }
 */
export function withoutLogin(json: Readonly<Record<string, unknown>>, key: string | null): { json: Record<string, unknown>; removed: string[] } {
  const auths = { ...objectField(json, 'auths') };
  const removed = Object.keys(auths).filter((k) => key === null || k === key || normalizeAuthKey(k) === key);
  for (const k of removed) delete auths[k];
  return { json: { ...json, auths }, removed };
}
