/**
 * shibafu's library API: a layer store on overlayfs.
 *
 * @example
 * import { openStore } from 'shibafu';
 * const store = openStore({ root: '/var/lib/shibafu' });
 * await store.createLayer({ name: 'base', source: 'rootfs.tar.gz' });
 * await store.mountLayers({ layers: ['base'], target: '/mnt/base' });
 */
export { openStore, Store } from './store/store.js';
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
export { DEFAULT_ROOT } from './store/layout.js';
export { ShibafuError, ERROR_CODES, isShibafuError } from './errors.js';
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
export type { ContainerView } from './container/container-views.js';
export type { AttachOptions } from './container/container-start.js';
export { containerConfig, parseVolume, parseEnvFile } from './container/container-config.js';
export type { ContainerConfig, NetworkMode } from './container/container-config.js';
export type { ContainerId, ContainerState } from './db/container-queries.js';
export { buildRuntimeSpec, containerEnv, DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './runtime/runtime-spec.js';
export type { OciSpec, RuntimeSpecOptions, VolumeSpec } from './runtime/runtime-spec.js';
