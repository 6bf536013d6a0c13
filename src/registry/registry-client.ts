/**
 * A client of one registry's OCI distribution API (distribution-spec spec.md): manifests, blobs,
 * uploads, cross-repository mounts, tags, over a RegistrySession (scheme, auth, redirects,
 * retries). Manifests are verified against the digest asked for and the registry's
 * `Docker-Content-Digest`; blobs stream (never held in memory), resume with `Range` after a
 * cut, and are verified as they stream.
 */
import type { Readable } from 'node:stream';
import { ShibafuError } from '../errors.js';
import { sha256Digest, type Digest } from '../ids.js';
import { openBlobStream, type OpenBlobOptions } from './blob-download.js';
import { mountBlob, uploadBlob, type UploadBlobOptions } from './blob-upload.js';
import { drain, header, readBody } from './http-transport.js';
import { manifestMediaType, MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES } from './manifest-media-types.js';
import { repositoryScope } from './registry-auth.js';
import { readBounded, RegistrySession, type RegistryAuthKind, type RegistryClientOptions } from './registry-session.js';

export type { RegistryClientOptions } from './registry-session.js';

/** A manifest as the registry gave it: the exact bytes, their type and their digest. */
export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: Digest;
}

/** What a HEAD of a manifest tells. */
export interface ManifestDescriptor {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
}

export interface RequestOptions {
  readonly signal?: AbortSignal | undefined;
}

const DIGEST_REF = /^sha256:[0-9a-f]{64}$/;

/**
 * @example
 * const client = new RegistryClient({ registry: 'localhost:5000', tlsVerify: false });
 * try {
 *   const m = await client.getManifest('team/app', 'latest');
 *   const blob = client.openBlob('team/app', layerDigest, { size: layerSize });
 * } finally { client.close(); }
 */
export class RegistryClient {
  readonly #session: RegistrySession;

  constructor(options: RegistryClientOptions) {
    this.#session = new RegistrySession(options);
  }

  /** The registry as references name it. */
  get registry(): string {
    return this.#session.registry;
  }

  /**
   * Finds how the registry answers (`/v2/`): its scheme and the auth it asks for.
   *
   * @example
   * await client.ping() // { url: 'http://127.0.0.1:5000', auth: 'bearer' }
   */
  ping(options: RequestOptions = {}): Promise<{ url: string; auth: RegistryAuthKind }> {
    return this.#session.ping(options);
  }

  /**
   * Checks the client's credentials against the registry, as `podman login` does before it
   * saves them: a token with no scope (Bearer) or `/v2/` with Basic must be granted.
   * REGISTRY_UNAUTHORIZED when they are refused.
   *
   * @example
   * await new RegistryClient({ registry, credentials }).checkLogin();
   */
  async checkLogin(options: RequestOptions = {}): Promise<void> {
    const context = { action: 'log in to', object: this.registry, kind: 'other' } as const;
    await this.#session.call({ method: 'GET', url: '/v2/', scopes: [], signal: options.signal, context }, async (res) => {
      if (res.status === 200) return drain(res.body);
      throw await this.#session.fail(res, context);
    });
  }

  /**
   * The manifest at a tag or digest, byte for byte: DIGEST_MISMATCH when the bytes do not hash
   * to the digest asked for or to the registry's Docker-Content-Digest; LIMIT_EXCEEDED past 4 MiB.
   *
   * @example
   * const { bytes, mediaType, digest } = await client.getManifest('library/busybox', 'latest');
   */
  async getManifest(repository: string, reference: string, options: RequestOptions & { accept?: readonly string[] } = {}): Promise<FetchedManifest> {
    const context = { action: 'fetch manifest', object: this.#refText(repository, reference), kind: 'manifest' } as const;
    const accept = (options.accept ?? MANIFEST_MEDIA_TYPES).join(', ');
    return this.#session.call({
      method: 'GET', url: `/v2/${repository}/manifests/${reference}`, scopes: [repositoryScope(repository, ['pull'])],
      headers: { accept }, signal: options.signal, context,
    }, async (res) => {
      if (res.status !== 200) throw await this.#session.fail(res, context);
      const length = Number(header(res, 'content-length') ?? '0');
      const bytes = length > MAX_MANIFEST_BYTES ? 'too-large' : await readBody(res.body, MAX_MANIFEST_BYTES);
      if (bytes === 'too-large') {
        res.body.destroy();
        throw new ShibafuError('LIMIT_EXCEEDED', `Cannot fetch manifest ${context.object}: it is larger than ${MAX_MANIFEST_BYTES} bytes`, {
          hint: 'Registries refuse manifests over 4 MiB; this one is not an image manifest shibafu can use.',
        });
      }
      const digest = sha256Digest(bytes);
      checkDigest(context.object, digest, DIGEST_REF.test(reference) ? reference : undefined, header(res, 'docker-content-digest'));
      return { bytes, mediaType: manifestMediaType(header(res, 'content-type'), bytes), digest };
    });
  }

  /**
   * A manifest's digest, media type and size without its body, or null when there is none.
   * A registry that refuses HEAD (405) or gives no digest is asked with GET instead.
   *
   * @example
   * await client.headManifest('team/app', 'latest') // { digest: 'sha256:...', mediaType: '...', size: 528 }
   */
  async headManifest(repository: string, reference: string, options: RequestOptions = {}): Promise<ManifestDescriptor | null> {
    const context = { action: 'look up manifest', object: this.#refText(repository, reference), kind: 'manifest' } as const;
    const head = await this.#session.call({
      method: 'HEAD', url: `/v2/${repository}/manifests/${reference}`, scopes: [repositoryScope(repository, ['pull'])],
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') }, signal: options.signal, context,
    }, async (res): Promise<ManifestDescriptor | null | 'get'> => {
      drain(res.body);
      if (res.status === 404) return null;
      if (res.status === 405) return 'get';
      if (res.status !== 200) throw await this.#session.fail(res, context);
      const digest = header(res, 'docker-content-digest');
      if (digest === undefined || !DIGEST_REF.test(digest)) return 'get';
      if (DIGEST_REF.test(reference) && digest !== reference) checkDigest(context.object, digest as Digest, reference, undefined);
      return { digest: digest as Digest, mediaType: (header(res, 'content-type') ?? '').split(';')[0]?.trim() ?? '', size: Number(header(res, 'content-length') ?? '0') };
    });
    if (head !== 'get') return head;
    try {
      const m = await this.getManifest(repository, reference, options);
      return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
    } catch (err) {
      if (err instanceof ShibafuError && err.code === 'MANIFEST_UNKNOWN') return null;
      throw err;
    }
  }

  /**
   * Stores a manifest under a tag or its digest (blobs and child manifests must be there
   * first); returns its digest, computed here over the exact bytes.
   *
   * @example
   * const digest = await client.putManifest('team/app', 'v1', bytes, OCI_MANIFEST);
   */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string, options: RequestOptions = {}): Promise<Digest> {
    const context = { action: 'push manifest', object: this.#refText(repository, reference), kind: 'manifest' } as const;
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw new ShibafuError('LIMIT_EXCEEDED', `Cannot push manifest ${context.object}: it is larger than ${MAX_MANIFEST_BYTES} bytes, which registries refuse`);
    }
    const digest = sha256Digest(bytes);
    if (DIGEST_REF.test(reference) && reference !== digest) {
      throw new ShibafuError('DIGEST_MISMATCH', `Cannot push manifest ${context.object}: its bytes hash to ${digest}`);
    }
    return this.#session.call({
      method: 'PUT', url: `/v2/${repository}/manifests/${reference}`, scopes: [repositoryScope(repository, ['pull', 'push'])],
      headers: { 'content-type': mediaType }, body: bytes, signal: options.signal, context,
    }, async (res) => {
      if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await this.#session.fail(res, context);
      drain(res.body);
      checkDigest(context.object, digest, undefined, header(res, 'docker-content-digest'));
      return digest;
    });
  }

  /**
   * A blob's size when the repository has it, else null.
   *
   * @example
   * await client.headBlob('team/app', digest) // { size: 2811478 } or null
   */
  async headBlob(repository: string, digest: Digest, options: RequestOptions = {}): Promise<{ size: number } | null> {
    const context = { action: 'look up blob', object: `${this.registry}/${repository}@${digest}`, kind: 'blob' } as const;
    return this.#session.call({ method: 'HEAD', url: `/v2/${repository}/blobs/${digest}`, scopes: [repositoryScope(repository, ['pull'])], signal: options.signal, context }, async (res) => {
      drain(res.body);
      if (res.status === 404) return null;
      if (res.status !== 200) throw await this.#session.fail(res, context);
      return { size: Number(header(res, 'content-length') ?? '0') };
    });
  }

  /**
   * A blob's bytes from `offset`, streamed: a connection cut mid-blob is resumed with a
   * `Range` request where it stopped, with backoff. From offset 0 the stream is verified (it
   * fails with DIGEST_MISMATCH before its end when the bytes do not match `digest` or `size`).
   *
   * @example
   * await pipeline(client.openBlob('team/app', digest, { size }), createWriteStream(path));
   */
  openBlob(repository: string, digest: Digest, options: OpenBlobOptions = {}): Readable {
    return openBlobStream(this.#session, { repository, digest, retry: this.#session.retry, ...options });
  }

  /**
   * Mounts a blob another repository of this registry has (no bytes sent): true when the
   * registry did (201), false when it would not (202; the upload it opened is cancelled).
   *
   * @example
   * if (!await client.mountBlob('team/app', digest, 'team/base')) await client.uploadBlob(...);
   */
  mountBlob(repository: string, digest: Digest, fromRepository: string, options: RequestOptions = {}): Promise<boolean> {
    return mountBlob(this.#session, { repository, digest, fromRepository, signal: options.signal });
  }

  /**
   * Uploads a blob: POST, then one streamed PUT with its Content-Length (chunked PATCHes when
   * the registry refuses the size of one body, or `chunkSize` asks for them). `open(offset)`
   * gives the bytes from `offset`; it is called again for each new try.
   *
   * @example
   * await client.uploadBlob('team/app', digest, size, () => content.read(digest), { onProgress: (p) => bar(p.bytes) });
   */
  uploadBlob(repository: string, digest: Digest, size: number, open: (offset: number) => Readable | Promise<Readable>, options: UploadBlobOptions = {}): Promise<void> {
    return uploadBlob(this.#session, { repository, digest, size, open, retry: this.#session.retry, ...options });
  }

  /**
   * Every tag of a repository, following the registry's pages (`Link: <...>; rel="next"`).
   *
   * @example
   * await client.listTags('team/app') // ['latest', 'v1']
   */
  async listTags(repository: string, options: RequestOptions = {}): Promise<string[]> {
    const context = { action: 'list tags of', object: `${this.registry}/${repository}`, kind: 'manifest' } as const;
    const tags: string[] = [];
    let next: URL | string | null = `/v2/${repository}/tags/list`;
    for (let page = 0; next !== null && page < 10_000; page++) {
      next = await this.#session.call({ method: 'GET', url: next, scopes: [repositoryScope(repository, ['pull'])], signal: options.signal, context }, async (res, url): Promise<URL | null> => {
        if (res.status !== 200) throw await this.#session.fail(res, context);
        const body = await readBounded(res.body, MAX_MANIFEST_BYTES);
        const json = JSON.parse(body.toString('utf8')) as { tags?: unknown };
        if (Array.isArray(json.tags)) tags.push(...json.tags.filter((t): t is string => typeof t === 'string'));
        const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '');
        return link === null ? null : new URL(link[1] as string, url);
      });
    }
    return tags;
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.#session.close();
  }

  #refText(repository: string, reference: string): string {
    return `${this.registry}/${repository}${DIGEST_REF.test(reference) ? '@' : ':'}${reference}`;
  }
}

/** DIGEST_MISMATCH when the bytes' digest is not the one asked for or the registry's own. */
function checkDigest(object: string, digest: Digest, asked: string | undefined, registrySays: string | undefined): void {
  if (asked !== undefined && asked !== digest) {
    throw new ShibafuError('DIGEST_MISMATCH', `Cannot use manifest ${object}: its bytes hash to ${digest}, not to the digest asked for`, {
      hint: 'The registry (or something between) served other bytes than the digest names; nothing was stored.',
      details: { expected: asked, actual: digest },
    });
  }
  if (registrySays !== undefined && registrySays.startsWith('sha256:') && registrySays !== digest) {
    throw new ShibafuError('DIGEST_MISMATCH', `Cannot use manifest ${object}: its bytes hash to ${digest}, the registry says ${registrySays}`, {
      hint: 'The bytes were changed on the way, or the registry is inconsistent; nothing was stored.',
      details: { expected: registrySays, actual: digest },
    });
  }
}
