/**
 * `image push`: an image to a registry (the OCI distribution API, src/registry/). Each blob the
 * manifest names is asked for first (HEAD) and sent only when the repository lacks it: mounted
 * from another repository of the same registry when the store knows one that has it (an image
 * of the store named there), else uploaded streamed from the store (the kept gzip or zstd blob,
 * or the layer's tar replayed from its tar-split record, each checked against its digest as it
 * goes). The manifest goes last, byte for byte as stored: the registry gets the digest the image
 * has here, and a pull of it gives the same image back.
 */
import { Readable } from 'node:stream';
import { readBlob } from '../content/blob-reader.js';
import { blobByDigest } from '../db/blob-queries.js';
import { allImages, imageNames, type ImageRow } from '../db/image-queries.js';
import { ShibafuError } from '../errors.js';
import { shortId, type Digest } from '../ids.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseManifestOrIndex } from '../oci/image-manifest.js';
import { formatImageReference, parseImageReference, type ImageReference } from '../registry/reference.js';
import { layerTar } from '../store/layer-export.js';
import type { StoreContext } from '../store/store-context.js';
import { readBlobBytes } from './image-blobs.js';
import { layersOf } from './image-views.js';

/** What a push needs of a registry client (src/registry/registry-client.ts): a narrow port. */
export interface RegistryWriter {
  headBlob(repository: string, digest: Digest, options?: { signal?: AbortSignal | undefined }): Promise<{ size: number } | null>;
  mountBlob(repository: string, digest: Digest, fromRepository: string, options?: { signal?: AbortSignal | undefined }): Promise<boolean>;
  uploadBlob(repository: string, digest: Digest, size: number, open: (offset: number) => Readable | Promise<Readable>, options?: {
    onProgress?: (p: { bytes: number }) => void; signal?: AbortSignal | undefined;
  }): Promise<void>;
  putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string, options?: { signal?: AbortSignal | undefined }): Promise<Digest>;
}

/** One blob's way to the registry. */
export interface PushProgress {
  readonly digest: string;
  readonly size: number;
  /** `exists`: the registry had it; `mounted`: from another repository; `uploading`/`uploaded`: sent. */
  readonly state: 'exists' | 'mounted' | 'uploading' | 'uploaded';
  readonly bytes: number;
}

export interface PushOptions {
  readonly registry: RegistryWriter;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: PushProgress) => void;
}

export interface PushResult {
  /** Where it went, and the manifest's digest there. */
  readonly destination: string;
  readonly digest: Digest;
  readonly blobs: { readonly uploaded: number; readonly mounted: number; readonly existed: number };
}

/**
 * @example
 * await pushImage(ctx, image, parseImageReference('localhost:5000/team/app:1'), { registry: client });
 */
export async function pushImage(ctx: StoreContext, image: ImageRow, dest: ImageReference, options: PushOptions): Promise<PushResult> {
  const text = formatImageReference(dest);
  const manifestBytes = readBlobBytes(ctx, image.manifestDigest);
  const manifest = parseManifestOrIndex(manifestBytes, `the manifest of image ${shortId(image.configDigest)}`, image.mediaType);
  if (manifest.kind !== 'manifest') throw new ShibafuError('STORE_CORRUPT', `Cannot push image ${shortId(image.configDigest)}: its manifest is an index`);
  const layers = ctx.db.read(() => layersOf(ctx, image));
  const sources = ctx.db.read(() => repositoriesOf(ctx, dest.registry, dest.repository));
  const counts = { uploaded: 0, mounted: 0, existed: 0 };
  const signal = options.signal;
  const send = async (d: Descriptor, open: (offset: number) => Readable): Promise<void> => {
    const report = (state: PushProgress['state'], bytes: number): void => options.onProgress?.({ digest: d.digest, size: d.size, state, bytes });
    if (await options.registry.headBlob(dest.repository, d.digest, { signal }) !== null) {
      counts.existed++;
      report('exists', d.size);
      return;
    }
    for (const from of sources) {
      if (await options.registry.mountBlob(dest.repository, d.digest, from, { signal })) {
        counts.mounted++;
        report('mounted', d.size);
        return;
      }
    }
    report('uploading', 0);
    await options.registry.uploadBlob(dest.repository, d.digest, d.size, open, { signal, onProgress: (p) => report('uploading', p.bytes) });
    counts.uploaded++;
    report('uploaded', d.size);
  };
  for (const [i, d] of manifest.layers.entries()) {
    const layer = layers[i]?.layer;
    if (layer === undefined) throw new ShibafuError('STORE_CORRUPT', `Cannot push image ${shortId(image.configDigest)}: its layer ${i} is missing`);
    if (d.digest === layer.diffId) {
      await send(d, (offset) => fromOffset(layerTar(ctx, layer, signal), offset));
    } else {
      if (ctx.db.read(() => blobByDigest(ctx.db, d.digest)) === undefined) {
        throw new ShibafuError('BLOB_NOT_FOUND', `Cannot push ${text}: the store does not keep ${d.digest}, the blob of its layer ${i}`, { hint: 'Load or pull the image again: the blob is kept when the image comes in.' });
      }
      await send(d, (offset) => fromOffset(readBlob(ctx, d.digest, signal === undefined ? {} : { signal }), offset));
    }
  }
  const configBytes = readBlobBytes(ctx, image.configDigest);
  await send(manifest.config, (offset) => Readable.from([configBytes.subarray(offset)]));
  // Manifests after their blobs (a registry may check them); by tag, or by digest when none.
  const digest = await options.registry.putManifest(dest.repository, dest.tag ?? image.manifestDigest, manifestBytes, image.mediaType, { signal });
  if (digest !== image.manifestDigest) {
    throw new ShibafuError('DIGEST_MISMATCH', `Cannot push ${text}: the registry stored the manifest as ${digest}, not ${image.manifestDigest}`, {
      hint: 'The registry changed the manifest; its digest is not the image\'s.',
    });
  }
  return { destination: text, digest, blobs: counts };
}

/** Other repositories of `registry` that images of this store are named in: where a blob may be mounted from. */
function repositoriesOf(ctx: StoreContext, registry: string, except: string): string[] {
  const repos = new Set<string>();
  for (const image of allImages(ctx.db)) {
    for (const name of imageNames(ctx.db, image.id)) {
      try {
        const ref = parseImageReference(name);
        if (ref.registry === registry && ref.repository !== except) repos.add(ref.repository);
      } catch {
        // A name that does not parse names no repository.
      }
    }
  }
  return [...repos];
}

/** The stream's bytes from `offset` (an upload resumed where the registry stands). */
function fromOffset(chunks: AsyncIterable<Buffer>, offset: number): Readable {
  if (offset === 0) return Readable.from(chunks);
  return Readable.from((async function* () {
    let skip = offset;
    for await (const chunk of chunks) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      yield skip > 0 ? chunk.subarray(skip) : chunk;
      skip = 0;
    }
  })());
}
