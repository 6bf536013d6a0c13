/**
 * Image references as docker and podman read them (the grammar of distribution/reference, its
 * "normalized named" form): `busybox` is `docker.io/library/busybox:latest`, the first path
 * component is a registry only when it looks like a host (a `.`, a `:` port, `localhost`, or
 * upper case, which a repository may not have). Pure.
 */
import { ShibafuError } from '../errors.js';
import type { Digest } from '../ids.js';

/** A parsed, normalized image reference. */
export interface ImageReference {
  /** The registry as users name it: `docker.io`, `quay.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** The repository inside it: `library/busybox`, `a/b`. */
  readonly repository: string;
  /** The tag; `latest` when the text names neither a tag nor a digest (unless told not to). */
  readonly tag: string | undefined;
  /** The manifest digest when the text has `@sha256:...` (with or without a tag). */
  readonly digest: Digest | undefined;
}

/** Docker Hub's name in references and credential files. */
export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's distribution API answers (docker.io itself serves a web site). */
export const DOCKER_HUB_API = 'registry-1.docker.io';

// distribution/reference's grammar. A path component is lower-case alphanumerics joined by one
// separator: `.`, `_`, `__`, or any number of `-`.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** distribution/reference's NameTotalLengthMax: the registry and repository together. */
const NAME_MAX = 255;
/** A bare 64-hex string is an image id, never a repository name (docker refuses it too). */
const IMAGE_ID = /^[a-f0-9]{64}$/;

export interface ParseReferenceOptions {
  /** Add `latest` when there is neither tag nor digest (default true; false for a repository alone). */
  readonly defaultTag?: boolean;
}

/**
 * Parses and normalizes an image reference. Throws INVALID_REFERENCE with the rule broken.
 *
 * @example
 * parseImageReference('busybox')
 * // { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', digest: undefined }
 * parseImageReference('localhost:5000/a/b:t@sha256:' + 'a'.repeat(64)).digest // 'sha256:aaa...'
 */
export function parseImageReference(text: string, options: ParseReferenceOptions = {}): ImageReference {
  const bad = (why: string): ShibafuError => new ShibafuError('INVALID_REFERENCE', `Cannot parse image reference "${text}": ${why}`, {
    hint: 'An image reference is [REGISTRY[:PORT]/]NAME[:TAG][@sha256:DIGEST], e.g. docker.io/library/busybox:1.36 or localhost:5000/team/app@sha256:...',
  });
  if (text === '') throw bad('it is empty');
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (DIGEST.test(d)) digest = d as Digest;
    else if (ANY_DIGEST.test(d) && !d.startsWith('sha256:')) throw bad(`the digest "${d}" is not sha256 (the only algorithm registries and shibafu share)`);
    else throw bad(`the digest "${d}" is not sha256: followed by 64 lower-case hex digits`);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  // The tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag "${tag}" is not 1-128 of [A-Za-z0-9_.-] starting with a letter, digit or _`);
  }
  const { registry, repository } = splitRegistry(rest, bad);
  if (`${registry}/${repository}`.length > NAME_MAX) throw bad(`the name is longer than ${NAME_MAX} characters`);
  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = 'latest';
  return { registry, repository, tag, digest };
}

function splitRegistry(name: string, bad: (why: string) => ShibafuError): { registry: string; repository: string } {
  if (name === '') throw bad('it has no repository name');
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isHost = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  let registry = isHost ? first : DOCKER_HUB;
  let repository = isHost ? name.slice(slash + 1) : name;
  if (isHost && !HOST.test(registry)) throw bad(`"${registry}" is not a valid registry host[:port]`);
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (repository === '') throw bad('it has no repository name');
  if (IMAGE_ID.test(repository) && !isHost) throw bad('a 64-hex string is an image id, not a repository name');
  for (const part of repository.split('/')) {
    if (part !== part.toLowerCase()) throw bad('repository names must be lower case');
    if (!PATH_COMPONENT.test(part)) {
      throw bad(`"${part}" is not a valid name component (lower-case letters and digits, joined by one of . _ __ or dashes)`);
    }
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository };
}

/**
 * The full, canonical text of a reference: registry, repository, then `:tag` and `@digest`
 * where present.
 *
 * @example
 * formatImageReference(parseImageReference('busybox')) // 'docker.io/library/busybox:latest'
 */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/**
 * What to ask the registry's manifest endpoint for: the digest when there is one (a tag beside
 * it is informative only, as podman treats `name:tag@digest`), else the tag.
 *
 * @example
 * manifestReference(parseImageReference('a/b:1@sha256:...')) // 'sha256:...'
 */
export function manifestReference(ref: ImageReference): string {
  const r = ref.digest ?? ref.tag;
  if (r === undefined) throw new ShibafuError('INVALID_REFERENCE', `Cannot fetch "${formatImageReference(ref)}": it names neither a tag nor a digest`);
  return r;
}

/**
 * The host[:port] where a registry's distribution API answers.
 *
 * @example
 * registryApiHost('docker.io') // 'registry-1.docker.io'
 * registryApiHost('localhost:5000') // 'localhost:5000'
 */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/**
 * Checks a registry name as `login` and `logout` take it, optionally followed by a namespace
 * (`quay.io/team`: credentials for that part of the registry only, as containers-auth.json(5)
 * allows). A `https://` prefix and a trailing `/` are dropped, as podman does.
 *
 * @example
 * parseRegistryKey('https://localhost:5000/') // { registry: 'localhost:5000', key: 'localhost:5000' }
 * parseRegistryKey('quay.io/team/app') // { registry: 'quay.io', key: 'quay.io/team/app' }
 */
export function parseRegistryKey(text: string): { registry: string; key: string } {
  const trimmed = text.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  let registry = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const path = slash < 0 ? '' : trimmed.slice(slash + 1);
  const bad = (why: string): ShibafuError => new ShibafuError('INVALID_REFERENCE', `Cannot use registry "${text}": ${why}`, {
    hint: 'Name a registry as HOST[:PORT], optionally with a namespace: quay.io, localhost:5000, quay.io/team',
  });
  if (registry === '' || !HOST.test(registry)) throw bad('it is not a valid host[:port]');
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (path !== '') {
    for (const part of path.split('/')) {
      if (!PATH_COMPONENT.test(part)) throw bad(`"${part}" is not a valid namespace component`);
    }
  }
  return { registry, key: path === '' ? registry : `${registry}/${path}` };
}
