/**
 * Where images are loaded from: an OCI image layout (a directory, or an `oci-archive` tar of
 * one), or a `docker-archive` (`docker save`, `podman save`: a `manifest.json` naming configs and
 * layer tars). Told apart by their content, never by a file name. Docker >= 25 writes both an OCI
 * layout and a manifest.json: it is read as the layout, named by the manifest.json's RepoTags.
 *
 * A docker-archive has no manifest: one is made for it (Docker schema 2, its layers as stored,
 * uncompressed), once, and is from then on the image's manifest byte for byte, as podman does.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { ShibafuError, fromSystemError } from '../errors.js';
import { parseDigest, type Digest } from '../ids.js';
import { sniffCompression } from '../tar/layer-source.js';
import { IMAGE_NAME_ANNOTATION, invalid, isRecord, REF_NAME_ANNOTATION, type Descriptor } from './descriptor.js';
import { parseImageConfig } from './image-config.js';
import { parseManifestOrIndex } from './image-manifest.js';
import { DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_LAYER_ZSTD } from './media-types.js';
import { TarArchive } from './tar-archive.js';

export type ImageSourceKind = 'oci-dir' | 'oci-archive' | 'docker-archive';

/** One image the source holds (a manifest, or an index of platforms). */
export interface SourceImage {
  /** Full image names the source gives it (a containerd name annotation, a ref name, RepoTags), as written. */
  readonly names: readonly string[];
  /** The OCI layout's `org.opencontainers.image.ref.name`, which may be a tag alone (`--ref` matches it). */
  readonly refName: string | undefined;
  readonly descriptor: Descriptor;
}

export interface ImageSource {
  readonly kind: ImageSourceKind;
  readonly images: readonly SourceImage[];
  /** A small blob (manifest, config, index), read whole and checked against its descriptor. */
  readBlob(d: Descriptor, where: string): Buffer;
  /** A blob's bytes as a stream; the reader hashes them (a layer's import checks its digest). */
  openBlob(d: Descriptor, where: string): Readable;
  close(): void;
}

/** Manifests, configs and indexes are small; a larger one is not an image's. */
export const MAX_METADATA_BYTES = 4 * 1024 * 1024;

/** The files of a layout: a directory's, or an archive's members. */
interface LayoutFiles {
  has(name: string): boolean;
  read(name: string, max: number): Buffer;
  open(name: string): Readable;
  size(name: string): number;
  close(): void;
}

/**
 * Opens `path`: a directory holding an OCI layout, or a tar (plain, gzip or zstd: a compressed
 * one is unpacked into `scratch` first, a file the caller removes).
 *
 * @example
 * const src = await openImageSource('/tmp/busybox.tar', { scratch: stage.sub('archive.tar') });
 * try { src.images } finally { src.close(); }
 */
export async function openImageSource(path: string, options: { readonly scratch: string; readonly maxBytes: number; readonly signal?: AbortSignal }): Promise<ImageSource> {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    throw fromSystemError(err, `read ${path}`);
  }
  if (st.isDirectory()) {
    const files = dirFiles(path);
    if (!files.has('oci-layout')) {
      throw new ShibafuError('ARCHIVE_INVALID', `Cannot load images from ${path}: the directory is not an OCI image layout (it has no oci-layout file)`, {
        hint: 'Give an OCI layout directory (skopeo copy ... oci:DIR), an oci-archive or a docker-archive.',
      });
    }
    return ociLayout(files, 'oci-dir', path);
  }
  let tarPath = path;
  if (sniffCompression(readHead(path)) !== 'none') {
    const { decompressFile } = await import('./decompress-file.js');
    await decompressFile(path, options.scratch, options);
    tarPath = options.scratch;
  }
  const archive = TarArchive.open(tarPath);
  try {
    if (archive.has('oci-layout') && archive.has('index.json')) return ociLayout(archive, 'oci-archive', path);
    if (archive.has('manifest.json')) return dockerArchive(archive, path);
  } catch (err) {
    archive.close();
    throw err;
  }
  archive.close();
  const layer = archive.names().some((n) => /^(bin|etc|usr|lib)(\/|$)/.test(n));
  throw new ShibafuError('ARCHIVE_INVALID', `Cannot load images from ${path}: it is a tar archive but neither an OCI layout nor a docker-archive (no index.json, no manifest.json)`, {
    hint: layer ? 'It looks like a layer: shibafu layer create NAME ARCHIVE' : 'Give an OCI layout directory, an oci-archive or a docker-archive.',
  });
}

function readHead(path: string): Buffer {
  const fd = fs.openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

function dirFiles(root: string): LayoutFiles {
  const at = (name: string): string => {
    const n = posix.normalize(`/${name}`);
    return join(root, n);
  };
  return {
    has: (name) => fs.statSync(at(name), { throwIfNoEntry: false })?.isFile() === true,
    size: (name) => fs.statSync(at(name)).size,
    read(name, max) {
      const size = fs.statSync(at(name)).size;
      if (size > max) throw new ShibafuError('ARCHIVE_INVALID', `Cannot read ${at(name)}: ${size} bytes, more than the ${max} a manifest or config may be`);
      return fs.readFileSync(at(name));
    },
    open: (name) => fs.createReadStream(at(name), { highWaterMark: 1 << 20 }) as Readable,
    close: () => {},
  };
}

function blobName(digest: Digest): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

function checked(bytes: Buffer, d: Descriptor, where: string): Buffer {
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (bytes.length !== d.size || got !== d.digest) {
    throw new ShibafuError('DIGEST_MISMATCH', `Cannot read ${where}: its bytes (${bytes.length}, ${got}) are not the ${d.size} bytes of ${d.digest} its descriptor names`, {
      hint: 'The image is damaged; nothing was stored.',
    });
  }
  return bytes;
}

function ociLayout(files: LayoutFiles, kind: ImageSourceKind, path: string): ImageSource {
  const where = `the index.json of ${path}`;
  const indexBytes = files.read('index.json', MAX_METADATA_BYTES);
  const index = parseManifestOrIndex(indexBytes, where);
  if (index.kind !== 'index') throw invalid(where, 'it is not an image index');
  const readBlob = (d: Descriptor, w: string): Buffer => {
    const name = blobName(d.digest);
    if (!files.has(name)) throw missing(path, d, w);
    return checked(files.read(name, MAX_METADATA_BYTES), d, w);
  };
  // Docker >= 25: the names are in manifest.json's RepoTags, by config.
  const repoTags = files.has('manifest.json') ? repoTagsByConfig(files.read('manifest.json', MAX_METADATA_BYTES), path) : new Map<string, string[]>();
  const images = index.manifests.map((d): SourceImage => {
    const refName = d.annotations?.[REF_NAME_ANNOTATION];
    const names = new Set<string>();
    const full = d.annotations?.[IMAGE_NAME_ANNOTATION];
    if (full !== undefined) names.add(full);
    // A ref name may be a whole reference (podman's) or a tag alone (skopeo's oci:DIR:TAG).
    if (refName !== undefined && /[/:]/.test(refName)) names.add(refName);
    if (names.size === 0 && repoTags.size > 0 && files.has(blobName(d.digest))) {
      const m = parseManifestOrIndex(readBlob(d, `manifest ${d.digest} of ${path}`), `manifest ${d.digest} of ${path}`, d.mediaType);
      if (m.kind === 'manifest') for (const t of repoTags.get(m.config.digest) ?? []) names.add(t);
    }
    return { names: [...names], refName, descriptor: d };
  });
  return {
    kind,
    images,
    readBlob,
    openBlob(d, w) {
      const name = blobName(d.digest);
      if (!files.has(name)) throw missing(path, d, w);
      return files.open(name);
    },
    close: () => files.close(),
  };
}

function missing(path: string, d: Descriptor, where: string): ShibafuError {
  return new ShibafuError('ARCHIVE_INVALID', `Cannot read ${where}: ${path} has no blob ${d.digest}`, {
    hint: 'The layout is incomplete (a blob was removed, or the manifest names one it never had); nothing was stored.',
  });
}

interface DockerItem { config: string; repoTags: string[]; layers: string[] }

function dockerItems(bytes: Buffer, path: string): DockerItem[] {
  const where = `the manifest.json of ${path}`;
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ShibafuError('ARCHIVE_INVALID', `Cannot read ${where}: it is not JSON`);
  }
  if (!Array.isArray(doc) || doc.length === 0) throw new ShibafuError('ARCHIVE_INVALID', `Cannot read ${where}: it is not a list of images`);
  return doc.map((item, i) => {
    if (!isRecord(item) || typeof item.Config !== 'string' || !Array.isArray(item.Layers) || item.Layers.some((l) => typeof l !== 'string')
      || (item.RepoTags !== undefined && item.RepoTags !== null && (!Array.isArray(item.RepoTags) || item.RepoTags.some((t) => typeof t !== 'string')))) {
      throw new ShibafuError('ARCHIVE_INVALID', `Cannot read ${where}: image ${i} has no Config and Layers`);
    }
    return { config: item.Config, repoTags: (item.RepoTags as string[] | null | undefined) ?? [], layers: item.Layers as string[] };
  });
}

function repoTagsByConfig(bytes: Buffer, path: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const item of dockerItems(bytes, path)) {
    const hex = /([0-9a-f]{64})(\.json)?$/.exec(item.config)?.[1];
    if (hex !== undefined) out.set(`sha256:${hex}`, item.repoTags);
  }
  return out;
}

function dockerArchive(archive: TarArchive, path: string): ImageSource {
  const made = new Map<string, Buffer>();
  const layerFiles = new Map<string, string>();
  const images: SourceImage[] = dockerItems(archive.read('manifest.json', MAX_METADATA_BYTES), path).map((item, i) => {
    const where = `image ${i} of ${path}`;
    const configBytes = archive.read(item.config, MAX_METADATA_BYTES);
    const config = parseImageConfig(configBytes, `the config of ${where}`);
    if (config.diffIds.length !== item.layers.length) {
      throw new ShibafuError('ARCHIVE_INVALID', `Cannot read ${where}: its manifest.json names ${item.layers.length} layers, its config ${config.diffIds.length}`, {
        hint: 'The archive is damaged or was edited; nothing was stored.',
      });
    }
    const configDigest = sha256(configBytes);
    made.set(configDigest, configBytes);
    const layers = item.layers.map((file, n) => {
      // A layer tar as `docker save` writes it: its digest is the diffId the config names (checked
      // when it is unpacked). A compressed one is hashed here, its digest being unknown.
      const compression = sniffCompression(headOf(archive, file));
      const digest = compression === 'none' ? config.diffIds[n] as Digest : hashMember(archive, file);
      layerFiles.set(digest, file);
      return { mediaType: compression === 'none' ? DOCKER_LAYER : compression === 'gzip' ? DOCKER_LAYER_GZIP : OCI_LAYER_ZSTD, size: archive.size(file), digest };
    });
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, size: configBytes.length, digest: configDigest },
      layers,
    }));
    const digest = sha256(manifest);
    made.set(digest, manifest);
    return { names: item.repoTags, refName: undefined, descriptor: { mediaType: DOCKER_MANIFEST, digest: parseDigest(digest), size: manifest.length } };
  });
  return {
    kind: 'docker-archive',
    images,
    readBlob(d, where) {
      const bytes = made.get(d.digest);
      if (bytes === undefined) throw missing(path, d, where);
      return checked(bytes, d, where);
    },
    openBlob(d, where) {
      const file = layerFiles.get(d.digest);
      if (file === undefined) throw missing(path, d, where);
      return archive.open(file);
    },
    close: () => archive.close(),
  };
}

function sha256(b: Buffer): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
}

function headOf(archive: TarArchive, name: string): Buffer {
  return archive.slice(name, 0, 8);
}

/** The digest of a member, read in 1 MiB pieces (a layer may be large). */
function hashMember(archive: TarArchive, name: string): Digest {
  const hash = createHash('sha256');
  const size = archive.size(name);
  for (let at = 0; at < size; at += 1 << 20) hash.update(archive.slice(name, at, 1 << 20));
  return `sha256:${hash.digest('hex')}` as Digest;
}
