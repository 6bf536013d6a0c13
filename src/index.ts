/**
 * shibafu's library API: a layer store on overlayfs.
 *
 * @example
 * import { openStore } from 'shibafu';
 * const store = openStore({ root: '/var/lib/shibafu' });
 * await store.createLayer({ name: 'base', source: 'rootfs.tar.gz' });
 * await store.mountLayers({ layers: ['base'], target: '/mnt/base' });
 */
import { CONTAINER_UNDOERS } from './container/container-intents.js';
import { IMAGE_UNDOERS } from './images/image-intents.js';
import type { Containers } from './container/containers.js';
import type { Images } from './images/images.js';
import { Store, type OpenStoreOptions } from './store/store.js';

export { Store } from './store/store.js';

/**
 * Opens (creating if needed) the store at `root`, sweeping what interrupted operations left,
 * containers' and images' included.
 *
 * @example
 * const store = openStore({ root: '/var/lib/shibafu' });
 * try { console.log(store.listLayers()); } finally { store.close(); }
 */
export function openStore(options: OpenStoreOptions): Store {
  return Store.open({ ...options, undoers: { ...CONTAINER_UNDOERS, ...IMAGE_UNDOERS, ...options.undoers } });
}

const CONTAINERS = new WeakMap<Store, Containers>();

/**
 * The containers on a store's layers: create, run, start, stop, rm, ps, inspect, logs, diff,
 * commit. Loaded when first asked for, so commands that never touch a container do not pay for
 * the runtime.
 *
 * @example
 * const containers = await containersOf(store);
 * await containers.run({ layers: ['base'], config: containerConfig({ args: ['true'] }) });
 */
export async function containersOf(store: Store): Promise<Containers> {
  let containers = CONTAINERS.get(store);
  if (containers === undefined) {
    const { containersFacade } = await import('./container/containers.js');
    containers = containersFacade(store.context, (ref) => store.sealedLayer(ref));
    CONTAINERS.set(store, containers);
  }
  return containers;
}
const IMAGES = new WeakMap<Store, Images>();

/**
 * The images in a store: load, save, ls, inspect, history, tag, untag, rm. Loaded when first
 * asked for.
 *
 * @example
 * const images = await imagesOf(store);
 * await images.load('/tmp/busybox.tar');
 */
export async function imagesOf(store: Store): Promise<Images> {
  let images = IMAGES.get(store);
  if (images === undefined) {
    const { imagesFacade } = await import('./images/images.js');
    images = imagesFacade(store.context);
    IMAGES.set(store, images);
  }
  return images;
}
export type { Images, RunTarget } from './images/images.js';
export { imageRunOf, mergeEnv, parseEntrypoint } from './images/image-run-config.js';
export type { ImageRun, RunOverrides } from './images/image-run-config.js';
export type { LoadedImage, LoadOptions } from './images/image-load.js';
export type { ImageRemoval } from './images/image-remove.js';
export type { ImageSummary, ImageDetails, HistoryLine } from './images/image-views.js';
export type { SaveFormat, SaveOptions, SaveResult } from './images/image-save.js';
export type { LayerProgress } from './images/image-layers.js';
export type { PullOptions, PullProgress, DownloadProgress, RegistryReader } from './images/image-pull.js';
export type { PushOptions, PushProgress, PushResult, RegistryWriter } from './images/image-push.js';
export { splitImageName } from './images/image-names.js';
export { parsePlatform, formatPlatform, hostPlatform } from './oci/platform.js';
export type { Platform } from './oci/platform.js';
export type { OpenStoreOptions, CreateLayerOptions, CreateLayerResult, MountLayersOptions } from './store/store.js';
export type { LayerSummary, LayerDetails } from './store/layer-views.js';
export type { MountView } from './store/layer-mounts.js';
export { OVERLAY_MAX_STACK } from './store/layer-mounts.js';
export type { RemoveResult } from './store/layer-remove.js';
export type { SweptItem } from './store/recovery.js';
export type { ImportLimits } from './store/store-context.js';
export { DEFAULT_LIMITS } from './store/store-context.js';
export type { ImportProgress } from './store/layer-import.js';
export type { CopyStats } from './store/copy-tree.js';
export { DEFAULT_ROOT, StoreLayout } from './store/layout.js';
export { STORAGE_DRIVERS, parseStorageDriver, parseStorageOptions } from './snapshots/storage-drivers.js';
export type { Snapshotter, StorageDriver, SnapshotInfo, SnapshotUsage, DriverCapabilities } from './snapshots/snapshotter.js';
export type { Mount, Mounter } from './snapshots/mount.js';
export type { LayerRow } from './db/layer-queries.js';
export type { Compression } from './tar/layer-source.js';
export { ShibafuError, ERROR_CODES, isShibafuError, fromSystemError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { chainIdOf, sha256Digest, parseDigest, asDiffId, asChainId, shortId } from './ids.js';
export type { Digest, DiffId, ChainId } from './ids.js';
export { splitArchivePath, classifyWhiteout, isForbiddenXattr } from './tar/path-safety.js';
export { toApplyOp } from './tar/apply-op.js';
export type { ApplyOp } from './tar/apply-op.js';
export type { Change, ChangeKind, ChangeTotals } from './changes/change.js';
export { changeTotals } from './changes/change.js';
export type { NodeKind } from './changes/tree-fs.js';
export type { GetLayerChangesOptions } from './store/layer-changes.js';
export type { CommitUpperOptions } from './store/layer-from-upper.js';
export type { CopyOverlayStats } from './changes/copy-overlay-dir.js';
export type { ExportOptions, ExportResult, ExportTarget } from './store/layer-export.js';
export type { ContentStore } from './content/content-store.js';
export type { BlobWriter, CommitBlobOptions, CommittedBlob, ExpectedBlob } from './content/blob-ingest.js';
export type { PublishedBlob } from './content/blob-publish.js';
export type { SweptIngest } from './content/ingest-dir.js';
export type { BlobRow, BlobCompression } from './db/blob-queries.js';
export type { Containers, CreateOptions as CreateContainerOptions, RunResult } from './container/containers.js';
export type { ContainerCommitResult } from './container/container-commit.js';
export type { ContainerView } from './container/container-views.js';
export type { AttachOptions } from './container/container-start.js';
export { containerConfig, expandEnvEntry, parseVolume, parseEnvFile } from './container/container-config.js';
export type { ContainerConfig, NetworkMode } from './container/container-config.js';
export type { ContainerId, ContainerState } from './db/container-queries.js';
export { buildRuntimeSpec, containerEnv, DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './runtime/runtime-spec.js';
export type { OciSpec, RuntimeSpecOptions, VolumeSpec } from './runtime/runtime-spec.js';

/**
 * The registry client (the OCI distribution API: pull and push of manifests and blobs) and the
 * credential files of `login`/`logout`, loaded on first use: they bring node:http, node:https
 * and node:crypto, which commands that never reach a registry should not load.
 *
 * @example
 * const { RegistryClient, authFilePaths, findCredentials } = await registryApi();
 * const ref = parseImageReference('localhost:5000/team/app:v1');
 * const found = findCredentials(authFilePaths({ env: io.env, uid: 0 }), ref.registry, ref.repository);
 * const client = new RegistryClient({ registry: ref.registry, credentials: found.credentials, unusableCredentials: found.unusable, tlsVerify: false });
 * try { const m = await client.getManifest(ref.repository, manifestReference(ref)); } finally { client.close(); }
 */
export function registryApi(): Promise<RegistryApi> {
  return import('./registry/registry-api.js');
}
export type RegistryApi = typeof import('./registry/registry-api.js');
export type { RegistryClient, RegistryClientOptions, FetchedManifest, ManifestDescriptor, RequestOptions } from './registry/registry-client.js';
export type { RegistryAuthKind } from './registry/registry-session.js';
export type { OpenBlobOptions } from './registry/blob-download.js';
export type { UploadBlobOptions, UploadProgress } from './registry/blob-upload.js';
export type { HttpTransport, HttpRequest, HttpResponse, HttpMethod, NodeHttpOptions } from './registry/http-transport.js';
export type { RetryOptions } from './registry/retry-policy.js';
export type { AuthFilePaths, AuthEnv, FoundCredentials } from './registry/credentials.js';
export type { RegistryCredentials, AuthFile } from './registry/auth-file.js';
export type { LoginOptions, LoginResult, LogoutResult } from './registry/registry-login.js';
export { parseImageReference, formatImageReference, manifestReference, registryApiHost, parseRegistryKey, DOCKER_HUB } from './registry/reference.js';
export type { ImageReference, ParseReferenceOptions } from './registry/reference.js';
export {
  OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED,
  MANIFEST_MEDIA_TYPES, INDEX_MEDIA_TYPES, MAX_MANIFEST_BYTES, manifestMediaType,
} from './registry/manifest-media-types.js';
