/**
 * The only module that builds paths under the store root (STYLE.md). Everything on disk is named
 * here so the on-disk format (docs/on-disk-format.md) has one source of truth.
 */
import { join } from 'node:path';
import type { ChainId, Digest } from '../ids.js';
import { digestHex } from '../ids.js';

export const DEFAULT_ROOT = '/var/lib/shibafu';

export class StoreLayout {
  readonly root: string;
  readonly layers: string;

  constructor(root: string) {
    this.root = root;
    this.layers = join(root, 'layers');
  }

  get db(): string { return join(this.root, 'shibafu.db'); }
  get tmp(): string { return join(this.root, 'tmp'); }
  get containers(): string { return join(this.root, 'containers'); }
  get blobs(): string { return join(this.root, 'blobs', 'sha256'); }
  /** The storage driver's root (src/snapshots/): every layer's files, every writable layer's. */
  get snapshots(): string { return join(this.root, 'snapshots'); }
  /**
   * Resumable ingests (content/blob-ingest.ts), one dir per ref. Not under tmp/: tmp/ is swept at
   * every open, and a half-downloaded blob must survive until its ref is resumed or expires.
   */
  get blobIngests(): string { return join(this.root, 'blobs', 'ingest'); }
  /**
   * Blobs moved out by a removal whose transaction may not have committed yet: the sweep puts one
   * back while its row exists, deletes it otherwise (content/blob-publish.ts).
   */
  get blobTrash(): string { return join(this.root, 'blobs', 'trash'); }
  /**
   * The OCI runtime's state root (`runc --root`): shibafu's containers never mix with the host's
   * runc containers (/run/runc), and ids cannot collide with them.
   */
  get runtimeState(): string { return join(this.root, 'runtime'); }

  /** The resident service's socket (`shibafu service start`); native/shibafu-client.c knows this name too. */
  get serviceSocket(): string { return join(this.root, 'service.sock'); }
  /** Held (flock) by the one service of this store for its whole life. */
  get serviceLock(): string { return join(this.root, 'service.lock'); }
  /** What a service started in the background writes (its own failures). */
  get serviceLog(): string { return join(this.root, 'service.log'); }
  /** Always empty: the extra bottom layer of a read-only one-layer mount (overlay needs two). */
  get empty(): string { return join(this.root, 'empty'); }

  /** Directories created when the store is opened (root itself is mode 0700). */
  get skeleton(): string[] {
    return [this.tmp, this.layers, this.containers, this.blobs, this.blobIngests, this.blobTrash, this.empty, this.runtimeState];
  }

  // Concatenated, not join()ed: `layers` is normalized and a chainId's hex is 64 [0-9a-f] (checked
  // when the id was parsed), and a mount asks for up to 500 of these at a time.
  layerDir(chainId: ChainId): string { return `${this.layers}/${digestHex(chainId)}`; }
  /** The tar-split record that reproduces an imported archive byte for byte (tar/tar-split.ts). */
  tarSplitIn(layerDir: string): string { return join(layerDir, 'tar-split.gz'); }



  containerDir(containerId: string): string { return join(this.containers, containerId); }
  /** Where the stack is mounted: the container's root file system. */
  containerMerged(containerId: string): string { return join(this.containerDir(containerId), 'merged'); }
  /**
   * Where the layout from before storage drivers kept what is now in snapshots: read only by the
   * migration of such a store (legacy-layout.ts).
   */
  get legacy(): { layerDiff(chainId: ChainId): string; openLayerDiff(token: string): string; containerUpper(id: string): string; containerWork(id: string): string; mountUpper(id: string): string; dirs: string[] } {
    return {
      layerDiff: (chainId) => `${this.layerDir(chainId)}/diff`,
      openLayerDiff: (token) => join(this.root, 'open', token, 'diff'),
      containerUpper: (id) => join(this.containerDir(id), 'upper'),
      containerWork: (id) => join(this.containerDir(id), 'work'),
      mountUpper: (id) => join(this.root, 'mounts', id, 'upper'),
      dirs: ['open', 'mounts', 'links', 'l'].map((d) => join(this.root, d)),
    };
  }

  /** The OCI runtime bundle (config.json; its root.path points at merged/). */
  containerBundle(containerId: string): string { return join(this.containerDir(containerId), 'bundle'); }
  containerConfigJson(containerId: string): string { return join(this.containerBundle(containerId), 'config.json'); }
  /** stdout and stderr of a detached container. */
  containerLog(containerId: string): string { return join(this.containerDir(containerId), 'ctr.log'); }
  /** The runtime's own log (runc --log, JSON lines): how shibafu tells runc's failures from the container's. */
  containerRuntimeLog(containerId: string): string { return join(this.containerDir(containerId), 'runtime.log'); }
  /** The container's init pid on the host, written by the runtime (--pid-file). */
  containerPidFile(containerId: string): string { return join(this.containerDir(containerId), 'pid'); }
  /** The exit status a detached container's monitor writes when the container ends. */
  containerExitFile(containerId: string): string { return join(this.containerDir(containerId), 'exit'); }
  /** The runtime's state dir of one container (present while the runtime knows the container). */
  runtimeStateOf(containerId: string): string { return join(this.runtimeState, containerId); }

  blob(digest: Digest): string { return join(this.blobs, digestHex(digest)); }
  /** A blob being removed (see `blobTrash`). */
  trashedBlob(digest: Digest): string { return join(this.blobTrash, digestHex(digest)); }
  /** The dir of one resumable ingest; `key` is the sha256 hex of its ref (any string). */
  ingestDir(key: string): string { return join(this.blobIngests, key); }
  /** The bytes received so far by an ingest. */
  ingestData(ingestDir: string): string { return join(ingestDir, 'data'); }
  /** The ref an ingest was opened with, as given (its dir is named by the ref's hash). */
  ingestRef(ingestDir: string): string { return join(ingestDir, 'ref'); }
  /** Written before an ingest's publishing transaction: the digest it is about to publish. */
  ingestCommitting(ingestDir: string): string { return join(ingestDir, 'committing'); }
  /** An import's blob, written in the same pass as its layer, inside the import's staging dir. */
  stagedBlob(stagingDir: string): string { return join(stagingDir, 'blob'); }

  /** A fresh staging dir name under tmp/ (the caller creates and locks it). */
  staging(kind: string, token: string): string { return join(this.tmp, `${kind}-${token}`); }

}
