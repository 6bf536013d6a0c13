/**
 * `image load`: the images of an OCI layout, an oci-archive or a docker-archive into the store.
 * Each image's manifest (the platform's, from an index), config and index are read and checked
 * against their digests, its layers unpacked (image-layers.ts), then the image recorded with its
 * names (image-record.ts). A failure leaves the store as it was: the layers this load added go.
 */
import { ShibafuError } from '../errors.js';
import { parseImageConfig, type ImageConfig } from '../oci/image-config.js';
import { parseManifestOrIndex, type ImageManifest } from '../oci/image-manifest.js';
import { openImageSource, type ImageSource, type SourceImage } from '../oci/image-source.js';
import { formatPlatform, hostPlatform, platformMatches, type Platform } from '../oci/platform.js';
import type { Descriptor } from '../oci/descriptor.js';
import { Staging } from '../store/staging.js';
import type { StoreContext } from '../store/store-context.js';
import { discardUnpacked, unpackImageLayers, type LayerProgress } from './image-layers.js';
import { imageName } from './image-names.js';
import { recordImage, type MetadataBlob, type RecordedImage } from './image-record.js';

export interface LoadOptions {
  /** One image of the source, by its ref name or one of its names (without: every image). */
  readonly ref?: string;
  /** Names to give the loaded image (one image only). */
  readonly tags?: readonly string[];
  /** The platform to pick from an index (default: this host's). */
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: LayerProgress & { readonly image: string }) => void;
}

export interface LoadedImage extends RecordedImage {
  readonly names: readonly string[];
  /** What the source called it (its first name, or its manifest digest). */
  readonly source: string;
}

/**
 * @example
 * const loaded = await loadImages(ctx, '/tmp/busybox.tar', {});
 * loaded[0].image.configDigest
 */
export async function loadImages(ctx: StoreContext, path: string, options: LoadOptions = {}): Promise<LoadedImage[]> {
  const tags = (options.tags ?? []).map((t) => imageName(t));
  const stage = Staging.create(ctx.layout, 'load', ctx.ports);
  try {
    const source = await openImageSource(path, { scratch: stage.sub('archive.tar'), maxBytes: ctx.limits.maxBytes, ...(options.signal !== undefined ? { signal: options.signal } : {}) });
    try {
      const chosen = chooseImages(source, path, options.ref);
      if (tags.length > 0 && chosen.length > 1) {
        throw new ShibafuError('USAGE', `Cannot name the images of ${path} with --tag: it holds ${chosen.length} images`, { hint: 'Pick one with --ref REF.' });
      }
      const loaded: LoadedImage[] = [];
      for (const entry of chosen) loaded.push(await loadOne(ctx, source, entry, path, tags, options));
      return loaded;
    } finally {
      source.close();
    }
  } finally {
    stage.dispose();
  }
}

function chooseImages(source: ImageSource, path: string, ref: string | undefined): SourceImage[] {
  if (source.images.length === 0) throw new ShibafuError('IMAGE_NOT_FOUND', `Cannot load images from ${path}: it holds none`);
  if (ref === undefined) return [...source.images];
  let wanted: string | undefined;
  try {
    wanted = imageName(ref);
  } catch {
    wanted = undefined; // a tag alone (an OCI layout's ref name) is matched as written
  }
  const found = source.images.filter((i) => i.refName === ref || i.names.includes(ref) || (wanted !== undefined && i.names.some((n) => safeName(n) === wanted)));
  if (found.length === 0) {
    const known = source.images.flatMap((i) => (i.names.length > 0 ? i.names : i.refName !== undefined ? [i.refName] : [])).slice(0, 5);
    throw new ShibafuError('IMAGE_NOT_FOUND', `Cannot load "${ref}" from ${path}: no image there has that name`, {
      hint: known.length > 0 ? `It holds: ${known.join(', ')}` : 'Its images have no names: load them all (without --ref), then tag them.',
    });
  }
  return found;
}

function safeName(n: string): string | undefined {
  try {
    return imageName(n);
  } catch {
    return undefined;
  }
}

async function loadOne(ctx: StoreContext, source: ImageSource, entry: SourceImage, path: string, tags: readonly string[], options: LoadOptions): Promise<LoadedImage> {
  const label = entry.names[0] ?? entry.refName ?? entry.descriptor.digest;
  const where = `image ${label} of ${path}`;
  const { manifest, manifestBlob, index } = pickManifest(source, entry.descriptor, where, options.platform ?? hostPlatform());
  const configBlob = { descriptor: manifest.config, bytes: source.readBlob(manifest.config, `the config of ${where}`) };
  const config: ImageConfig = parseImageConfig(configBlob.bytes, `the config of ${where}`);
  const unpacked = await unpackImageLayers(ctx, {
    manifest, config, where,
    open: (d, i) => source.openBlob(d, `layer ${i} of ${where}`),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    ...(options.onProgress !== undefined ? { onProgress: (p: LayerProgress) => options.onProgress?.({ ...p, image: label }) } : {}),
  });
  const names = [...new Set([...entry.names.map(safeName).filter((n): n is string => n !== undefined), ...tags])];
  try {
    const recorded = await recordImage(ctx, {
      manifest: manifestBlob, config: configBlob, index, platform: formatPlatform(config.platform), size: unpacked.size, layers: unpacked.layers, names,
    });
    return { ...recorded, names, source: label };
  } catch (err) {
    discardUnpacked(ctx, unpacked.added);
    throw err;
  }
}

/**
 * The manifest of an image entry: itself, or the platform's from its index (an index of indexes,
 * as some tools write for one image, is followed one level down).
 */
function pickManifest(source: ImageSource, d: Descriptor, where: string, platform: Platform): { manifest: ImageManifest; manifestBlob: MetadataBlob; index: MetadataBlob | null } {
  const bytes = source.readBlob(d, `the manifest of ${where}`);
  const parsed = parseManifestOrIndex(bytes, `the manifest of ${where}`, d.mediaType);
  if (parsed.kind === 'manifest') return { manifest: parsed, manifestBlob: { descriptor: d, bytes }, index: null };
  const candidates = parsed.manifests.filter((m) => m.platform === undefined ? parsed.manifests.length === 1 : platformMatches(platform, m.platform));
  const chosen = candidates[0];
  if (chosen === undefined) {
    const offered = parsed.manifests.map((m) => (m.platform === undefined ? '?' : formatPlatform(m.platform)));
    throw new ShibafuError('PLATFORM_NOT_FOUND', `Cannot load ${where}: its index has no image for ${formatPlatform(platform)} (it has ${offered.join(', ')})`, {
      hint: `Pick one with --platform ${offered.find((o) => o !== '?') ?? 'OS/ARCH'}.`,
      details: { platforms: offered },
    });
  }
  const inner = source.readBlob(chosen, `the ${formatPlatform(chosen.platform ?? platform)} manifest of ${where}`);
  const m = parseManifestOrIndex(inner, `the manifest of ${where}`, chosen.mediaType);
  if (m.kind !== 'manifest') throw new ShibafuError('MANIFEST_INVALID', `Cannot load ${where}: its index points at another index`);
  return { manifest: m, manifestBlob: { descriptor: chosen, bytes: inner }, index: { descriptor: d, bytes } };
}
