/**
 * `image pull`: an image from a registry (the OCI distribution API, src/registry/) into the
 * store. The manifest (the platform's, from an index) and the config are fetched and checked by
 * digest; the layers the store lacks are downloaded in parallel (`jobs` at a time, as skopeo) into
 * resumable ingests of the content store, and each is unpacked from its ingest while it is still
 * downloading (content/growing-file.ts), in order, bottom first. A connection cut mid-blob is
 * resumed by the client with a Range request; a pull that is killed or interrupted keeps the
 * verified bytes of its ingests, and the next pull of that blob goes on where it stopped. Nothing
 * is recorded until every layer is unpacked and verified (image-record.ts).
 */
import { Readable } from 'node:stream';
import { BlobWriter } from '../content/blob-ingest.js';
import { GrowingFile } from '../content/growing-file.js';
import { isShibafuError, ShibafuError } from '../errors.js';
import { chainIdOf, type ChainId, type Digest } from '../ids.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseImageConfig } from '../oci/image-config.js';
import { parseManifestOrIndex, type ImageIndex, type ImageManifest } from '../oci/image-manifest.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../oci/media-types.js';
import { formatPlatform, hostPlatform, platformMatches, type Platform } from '../oci/platform.js';
import { formatImageReference, manifestReference, type ImageReference } from '../registry/reference.js';
import type { StoreContext } from '../store/store-context.js';
import { discardUnpacked, storedImageLayer, unpackImageLayers, type LayerProgress } from './image-layers.js';
import { recordImage, type MetadataBlob } from './image-record.js';
import type { LoadedImage } from './image-load.js';

/** What a pull needs of a registry client (src/registry/registry-client.ts): a narrow port. */
export interface RegistryReader {
  getManifest(repository: string, reference: string, options?: { accept?: readonly string[]; signal?: AbortSignal | undefined }): Promise<{ bytes: Buffer; mediaType: string; digest: Digest }>;
  openBlob(repository: string, digest: Digest, options?: { offset?: number; size?: number; verify?: boolean; signal?: AbortSignal | undefined }): Readable;
}

/** A layer's download: bytes so far of its blob's size. */
export interface DownloadProgress {
  readonly state: 'downloading';
  readonly index: number;
  readonly count: number;
  readonly digest: string;
  readonly downloaded: number;
  readonly size: number;
}

export type PullProgress = LayerProgress | DownloadProgress;

export interface PullOptions {
  readonly registry: RegistryReader;
  /** The platform to take from an index (default: this host's). */
  readonly platform?: Platform;
  /** Every platform of an index, each an image of its own (its name goes to the host's, or the first). */
  readonly allPlatforms?: boolean;
  /** Downloads at once (default 6, as skopeo). */
  readonly jobs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: PullProgress & { readonly image: string }) => void;
}

const ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];
/** A config is small; a larger one is not an image's. */
const MAX_CONFIG = 4 * 1024 * 1024;

/**
 * @example
 * const pulled = await pullImage(ctx, parseImageReference('localhost:5000/team/app:1'), { registry: client });
 */
export async function pullImage(ctx: StoreContext, ref: ImageReference, options: PullOptions): Promise<LoadedImage[]> {
  const text = formatImageReference(ref);
  const top = await options.registry.getManifest(ref.repository, manifestReference(ref), { accept: ACCEPT, signal: options.signal });
  const parsed = parseManifestOrIndex(top.bytes, `the manifest of ${text}`, top.mediaType);
  const topBlob: MetadataBlob = { descriptor: { mediaType: parsed.mediaType, digest: top.digest, size: top.bytes.length }, bytes: top.bytes };
  // A name is kept for a tag; a pull by digest alone names nothing (as podman's).
  const names = ref.tag === undefined ? [] : [formatImageReference({ ...ref, digest: undefined })];
  if (parsed.kind === 'manifest') return [await pullManifest(ctx, ref, { manifest: parsed, blob: topBlob, index: null, names }, options)];
  const chosen = choosePlatforms(parsed, text, options);
  const pulled: LoadedImage[] = [];
  for (const [i, d] of chosen.entries()) {
    const fetched = await options.registry.getManifest(ref.repository, d.digest, { accept: ACCEPT, signal: options.signal });
    const m = parseManifestOrIndex(fetched.bytes, `the ${formatPlatform(d.platform ?? hostPlatform())} manifest of ${text}`, d.mediaType);
    if (m.kind !== 'manifest') throw new ShibafuError('MANIFEST_INVALID', `Cannot pull ${text}: its index points at another index`);
    pulled.push(await pullManifest(ctx, ref, { manifest: m, blob: { descriptor: d, bytes: fetched.bytes }, index: topBlob, names: i === 0 ? names : [] }, options));
  }
  return pulled;
}

function choosePlatforms(index: ImageIndex, text: string, options: PullOptions): Descriptor[] {
  const images = index.manifests.filter((m) => m.platform === undefined || m.platform.os !== 'unknown');
  if (options.allPlatforms === true) {
    // The host's first: it gets the name.
    const host = hostPlatform();
    return [...images].sort((a, b) => Number(b.platform !== undefined && platformMatches(host, b.platform)) - Number(a.platform !== undefined && platformMatches(host, a.platform)));
  }
  const wanted = options.platform ?? hostPlatform();
  const found = images.find((m) => (m.platform === undefined ? images.length === 1 : platformMatches(wanted, m.platform)));
  if (found === undefined) {
    const offered = images.map((m) => (m.platform === undefined ? '?' : formatPlatform(m.platform)));
    throw new ShibafuError('PLATFORM_NOT_FOUND', `Cannot pull ${text}: its index has no image for ${formatPlatform(wanted)} (it has ${offered.join(', ')})`, {
      hint: `Pick one with --platform ${offered.find((o) => o !== '?') ?? 'OS/ARCH'}, or take them all with --all-platforms.`,
      details: { platforms: offered },
    });
  }
  return [found];
}

interface Chosen {
  readonly manifest: ImageManifest;
  readonly blob: MetadataBlob;
  readonly index: MetadataBlob | null;
  readonly names: readonly string[];
}

async function pullManifest(ctx: StoreContext, ref: ImageReference, chosen: Chosen, options: PullOptions): Promise<LoadedImage> {
  const text = formatImageReference(ref);
  const { manifest } = chosen;
  const configBytes = await readSmallBlob(options.registry, ref.repository, manifest.config, options.signal);
  const config = parseImageConfig(configBytes, `the config of ${text}`);
  const downloads = new Downloads(ctx, options, ref.repository, text, manifest.layers);
  try {
    // Which layers the store lacks, known before the first byte, so their downloads can start at once.
    let parent: ChainId | null = null;
    const needed: Descriptor[] = [];
    for (const [i, d] of manifest.layers.entries()) {
      const diffId = config.diffIds[i];
      if (diffId === undefined) break; // unpackImageLayers refuses the mismatch by name
      parent = chainIdOf(parent, diffId);
      if (storedImageLayer(ctx, parent, d, diffId, `${text}, layer ${i}`).layer === undefined) needed.push(d);
    }
    downloads.start(needed);
    let current: Digest | undefined;
    const unpacked = await unpackImageLayers(ctx, {
      manifest, config, where: text,
      open: (d) => { current = d.digest; return downloads.stream(d); },
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.onProgress !== undefined ? { onProgress: (p: LayerProgress) => options.onProgress?.({ ...p, image: text }) } : {}),
    }).catch(async (err: unknown) => {
      // Bytes that are not the blob fail the unpack first (a corrupt gzip stream); the download's
      // own verdict, once all its bytes are in, says what really happened.
      const verdict = current === undefined ? undefined : await downloads.verdict(current);
      throw isShibafuError(verdict, 'DIGEST_MISMATCH') ? verdict : err;
    });
    try {
      // Every download sealed (its whole blob checked) before the image becomes visible.
      await downloads.finish();
      const recorded = await recordImage(ctx, {
        manifest: chosen.blob, config: { descriptor: manifest.config, bytes: configBytes }, index: chosen.index,
        platform: formatPlatform(config.platform), size: unpacked.size, layers: unpacked.layers, names: chosen.names,
      });
      return { ...recorded, names: chosen.names, source: text };
    } catch (err) {
      discardUnpacked(ctx, unpacked.added);
      throw err;
    }
  } finally {
    await downloads.close();
  }
}

async function readSmallBlob(registry: RegistryReader, repository: string, d: Descriptor, signal: AbortSignal | undefined): Promise<Buffer> {
  if (d.size > MAX_CONFIG) throw new ShibafuError('LIMIT_EXCEEDED', `Cannot pull the config ${d.digest}: ${d.size} bytes, more than ${MAX_CONFIG}`);
  const chunks: Buffer[] = [];
  for await (const chunk of registry.openBlob(repository, d.digest, { size: d.size, verify: true, signal })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The layer downloads of one pull: each into the resumable ingest of its digest, at most `jobs`
 * at a time, in the order the layers are unpacked; each readable while it grows.
 */
class Downloads {
  readonly #ctx: StoreContext;
  readonly #options: PullOptions;
  readonly #repository: string;
  readonly #text: string;
  readonly #jobs: number;
  readonly #queue: Descriptor[] = [];
  readonly #running = new Map<string, { growing: Promise<GrowingFile>; done: Promise<void> }>();
  /** Stops every download: the pull's own signal, or the pull ending first (a failed unpack). */
  readonly #stop = new AbortController();
  readonly #index: ReadonlyMap<string, number>;
  readonly #count: number;
  readonly #onAbort: () => void;
  #active = 0;

  constructor(ctx: StoreContext, options: PullOptions, repository: string, text: string, layers: readonly Descriptor[]) {
    this.#ctx = ctx;
    this.#options = options;
    this.#repository = repository;
    this.#text = text;
    this.#jobs = Math.max(1, options.jobs ?? 6);
    this.#index = new Map(layers.map((d, i) => [d.digest, i]));
    this.#count = layers.length;
    this.#onAbort = () => this.#stop.abort(options.signal?.reason);
    if (options.signal?.aborted === true) this.#onAbort();
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  start(layers: readonly Descriptor[]): void {
    this.#queue.push(...layers);
    this.#pump();
  }

  /** The layer's bytes as they arrive (its download started now if it was not yet). */
  stream(d: Descriptor): Readable {
    if (!this.#running.has(d.digest)) {
      // Unpacked before its turn in the queue (a layer the store turned out to lack): start it now.
      const at = this.#queue.findIndex((q) => q.digest === d.digest);
      if (at >= 0) this.#queue.splice(at, 1);
      this.#launch(d);
    }
    const entry = this.#running.get(d.digest)!;
    const signal = this.#stop.signal;
    return readableOf((async function* () {
      const growing = await entry.growing;
      yield* growing.chunks(signal);
    })());
  }

  /** How the download of `digest` ended: its error, or undefined (also for one never started). */
  async verdict(digest: string): Promise<unknown> {
    const entry = this.#running.get(digest);
    if (entry === undefined) return undefined;
    try {
      await entry.done;
      return undefined;
    } catch (err) {
      return err;
    }
  }

  /** Waits for every download (each verified by its ingest's seal), then drops the ingests. */
  async finish(): Promise<void> {
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  /**
   * Stops what still runs and waits for it: each ingest keeps its bytes for the next pull (a
   * writer is closed by its own download, never under a write in flight).
   */
  async close(): Promise<void> {
    this.#queue.length = 0;
    // The service runs many pulls under one process: the listener goes with its pull.
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#stop.abort();
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
    // A layer never unpacked (the pull failed before it) still holds its file open.
    await Promise.allSettled([...this.#running.values()].map(async (r) => (await r.growing).close()));
  }

  #pump(): void {
    while (this.#active < this.#jobs && this.#queue.length > 0 && !this.#stop.signal.aborted) this.#launch(this.#queue.shift()!);
  }

  #launch(d: Descriptor): void {
    this.#active++;
    let resolveGrowing!: (g: GrowingFile) => void;
    let rejectGrowing!: (e: unknown) => void;
    const growing = new Promise<GrowingFile>((res, rej) => { resolveGrowing = res; rejectGrowing = rej; });
    growing.catch(() => {});
    const entry: { growing: Promise<GrowingFile>; done: Promise<void> } = { growing, done: Promise.resolve() };
    entry.done = (async () => {
      let file: GrowingFile | undefined;
      let writer: BlobWriter | undefined;
      try {
        writer = await BlobWriter.open(this.#ctx, `pull ${d.digest}`);
        // A partial ingest longer than the blob is not this blob's beginning: start over.
        if (writer.offset > d.size) {
          writer.abort();
          throw new ShibafuError('DIGEST_MISMATCH', `Cannot resume ${d.digest}: the bytes kept are more than its ${d.size}`, { hint: 'Pull again: the partial download was dropped.' });
        }
        file = new GrowingFile(writer.path, writer.offset);
        resolveGrowing(file);
        const index = this.#index.get(d.digest) ?? 0;
        const report = (n: number): void => this.#options.onProgress?.({ state: 'downloading', index, count: this.#count, digest: d.digest, downloaded: n, size: d.size, image: this.#text });
        if (writer.offset < d.size) {
          for await (const chunk of this.#options.registry.openBlob(this.#repository, d.digest, { offset: writer.offset, size: d.size, verify: false, signal: this.#stop.signal })) {
            await writer.write(chunk as Buffer);
            file.grew(writer.offset);
            report(writer.offset);
          }
        }
        // The whole blob against its digest (the ingest re-hashed what an earlier pull left).
        writer.seal({ digest: d.digest, size: d.size });
        writer.abort();
        file.finish();
      } catch (err) {
        if (file === undefined) rejectGrowing(err);
        else file.finish(err);
        // The verified part stays for the next pull (a mismatch dropped it in seal).
        writer?.close();
        throw err;
      } finally {
        this.#active--;
        this.#pump();
      }
    })();
    entry.done.catch(() => {});
    this.#running.set(d.digest, entry);
  }
}

function readableOf(gen: AsyncGenerator<Buffer>): Readable {
  return Readable.from(gen, { objectMode: false });
}
