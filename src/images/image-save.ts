/**
 * `image save`: images out of the store as an OCI layout (a directory, or an oci-archive tar) or
 * a docker-archive. Manifests and configs are written as stored, byte for byte (a Docker
 * manifest in an OCI layout becomes its OCI form: manifest-convert.ts), and each
 * layer as the blob its manifest names: the stored compressed blob, or the layer's tar (replayed
 * from its tar-split record, so its digest is the diffId). Every byte written is checked against
 * its digest on the way; a mismatch removes the partial output.
 */
import { createHash } from 'node:crypto';
import { readBlob } from '../content/blob-reader.js';
import { blobByDigest } from '../db/blob-queries.js';
import type { ImageRow } from '../db/image-queries.js';
import { imageNames } from '../db/image-queries.js';
import type { LayerRow } from '../db/layer-queries.js';
import { ShibafuError } from '../errors.js';
import { digestHex, sha256Digest, shortId, type Digest } from '../ids.js';
import { IMAGE_NAME_ANNOTATION, REF_NAME_ANNOTATION, type Descriptor } from '../oci/descriptor.js';
import { parseManifestOrIndex, type ImageManifest } from '../oci/image-manifest.js';
import { dirSink, tarSink, type LayoutSink } from '../oci/layout-writer.js';
import { ociManifestOf } from '../oci/manifest-convert.js';
import { OCI_INDEX, OCI_MANIFEST } from '../oci/media-types.js';
import { layerTar } from '../store/layer-export.js';
import type { StoreContext } from '../store/store-context.js';
import { readBlobBytes } from './image-blobs.js';
import { splitImageName } from './image-names.js';
import { layersOf } from './image-views.js';

export type SaveFormat = 'oci-archive' | 'oci-dir' | 'docker-archive';
export const SAVE_FORMATS: readonly SaveFormat[] = ['oci-archive', 'oci-dir', 'docker-archive'];

export interface SaveOptions {
  readonly output: string;
  readonly format: SaveFormat;
  readonly signal?: AbortSignal;
}

export interface SaveResult {
  readonly output: string;
  readonly format: SaveFormat;
  readonly images: readonly { readonly id: Digest; readonly manifest: Digest; readonly names: readonly string[] }[];
}

interface Prepared {
  readonly image: ImageRow;
  readonly names: readonly string[];
  readonly manifestBytes: Buffer;
  readonly manifest: ImageManifest;
  readonly configBytes: Buffer;
  readonly layers: readonly { layer: LayerRow; blob: Digest | null }[];
}

/**
 * @example
 * await saveImages(ctx, [{ ref: 'busybox', image }], { output: '/tmp/busybox.tar', format: 'oci-archive' });
 */
export async function saveImages(ctx: StoreContext, chosen: readonly { ref: string; image: ImageRow }[], options: SaveOptions): Promise<SaveResult> {
  const prepared = ctx.db.read(() => chosen.map(({ image }) => prepare(ctx, image)));
  const sink = options.format === 'oci-dir' ? dirSink(options.output) : tarSink(options.output);
  try {
    if (options.format === 'docker-archive') await writeDockerArchive(ctx, sink, prepared, options.signal);
    else await writeOciLayout(ctx, sink, prepared, options.signal);
    sink.commit();
  } catch (err) {
    sink.abort();
    throw err;
  }
  return { output: options.output, format: options.format, images: prepared.map((p) => ({ id: p.image.configDigest, manifest: p.image.manifestDigest, names: p.names })) };
}

function prepare(ctx: StoreContext, image: ImageRow): Prepared {
  const manifestBytes = readBlobBytes(ctx, image.manifestDigest);
  const manifest = parseManifestOrIndex(manifestBytes, `the manifest of image ${shortId(image.configDigest)}`, image.mediaType);
  if (manifest.kind !== 'manifest') throw new ShibafuError('STORE_CORRUPT', `Cannot save image ${shortId(image.configDigest)}: its manifest is an index`);
  return { image, names: imageNames(ctx.db, image.id), manifestBytes, manifest, configBytes: readBlobBytes(ctx, image.configDigest), layers: layersOf(ctx, image) };
}

/** The bytes of a layer's blob as the manifest names it, checked against its digest as they go. */
function layerBlob(ctx: StoreContext, p: Prepared, i: number, d: Descriptor, signal: AbortSignal | undefined): { size: number; data: AsyncIterable<Buffer> } {
  const { layer } = p.layers[i] as { layer: LayerRow };
  if (d.digest === layer.diffId) return { size: layer.size, data: checkedTar(ctx, layer, signal) };
  if (ctx.db.read(() => blobByDigest(ctx.db, d.digest)) === undefined) {
    throw new ShibafuError('BLOB_NOT_FOUND', `Cannot save image ${shortId(p.image.configDigest)}: the store does not keep ${d.digest}, the blob of its layer ${i}`, {
      hint: 'Load or pull the image again: the blob is kept when the image comes in.',
    });
  }
  return { size: d.size, data: readBlob(ctx, d.digest, signal === undefined ? {} : { signal }) };
}

/** The layer's tar (uncompressed), its digest checked against the diffId at the end. */
async function* checkedTar(ctx: StoreContext, layer: LayerRow, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of layerTar(ctx, layer, signal)) {
    hash.update(chunk);
    yield chunk;
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== layer.diffId) {
    throw new ShibafuError('DIGEST_MISMATCH', `Cannot save layer ${shortId(layer.chainId!)}: its files no longer match its diffId (${got})`, {
      hint: 'The layer was changed on disk behind shibafu; nothing was saved.',
    });
  }
}

async function writeOciLayout(ctx: StoreContext, sink: LayoutSink, images: readonly Prepared[], signal: AbortSignal | undefined): Promise<void> {
  const layout = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
  await sink.file('oci-layout', layout.length, layout);
  const written = new Set<string>();
  const blob = async (d: Descriptor, size: number, data: Buffer | AsyncIterable<Buffer>): Promise<void> => {
    if (written.has(d.digest)) return;
    written.add(d.digest);
    await sink.file(`blobs/sha256/${digestHex(d.digest)}`, size, data);
  };
  const entries: Record<string, unknown>[] = [];
  for (const p of images) {
    for (const [i, d] of p.manifest.layers.entries()) {
      if (written.has(d.digest)) continue;
      const { size, data } = layerBlob(ctx, p, i, d, signal);
      await blob(d, size, data);
    }
    await blob(p.manifest.config, p.configBytes.length, p.configBytes);
    // A Docker manifest goes into an OCI layout as its OCI form (manifest-convert.ts).
    const converted = ociManifestOf(p.manifest);
    const bytes = converted ?? p.manifestBytes;
    const md = { mediaType: converted === null ? p.image.mediaType : OCI_MANIFEST, digest: converted === null ? p.image.manifestDigest : sha256Digest(bytes), size: bytes.length };
    await blob(md as Descriptor, bytes.length, bytes);
    // One entry per name, as containerd and Docker write them: the full name, and the tag alone
    // as OCI's ref name (what `umoci --image DIR:TAG` and `skopeo oci:DIR:TAG` look up).
    if (p.names.length === 0) entries.push(md);
    for (const name of p.names) {
      entries.push({ ...md, annotations: { [IMAGE_NAME_ANNOTATION]: name, [REF_NAME_ANNOTATION]: splitImageName(name).tag } });
    }
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));
  await sink.file('index.json', index.length, index);
}

async function writeDockerArchive(ctx: StoreContext, sink: LayoutSink, images: readonly Prepared[], signal: AbortSignal | undefined): Promise<void> {
  const written = new Set<string>();
  const items: Record<string, unknown>[] = [];
  for (const p of images) {
    // docker load takes uncompressed layer tars, named by their diffId as podman names them.
    const layers: string[] = [];
    for (const { layer } of p.layers) {
      const name = `${digestHex(layer.diffId as Digest)}.tar`;
      layers.push(name);
      if (written.has(name)) continue;
      written.add(name);
      await sink.file(name, layer.size, checkedTar(ctx, layer, signal));
    }
    const config = `${digestHex(p.image.configDigest)}.json`;
    if (!written.has(config)) {
      written.add(config);
      await sink.file(config, p.configBytes.length, p.configBytes);
    }
    items.push({ Config: config, RepoTags: p.names, Layers: layers });
  }
  const manifest = Buffer.from(JSON.stringify(items));
  await sink.file('manifest.json', manifest.length, manifest);
}
