/**
 * Every command, in the order `shibafu --help` lists them. Each is loaded only when it runs (or
 * for the full help), so `shibafu layer list` does not pay for the container runtime's modules:
 * Node's start is most of a short command's time.
 */
import type { Command } from '../command.js';

export interface CommandEntry {
  /** Words after `shibafu`, e.g. `layer create` (must equal the loaded command's name). */
  readonly name: string;
  readonly load: () => Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'layer create', load: async () => (await import('./layer-create.js')).layerCreate },
  { name: 'layer add', load: async () => (await import('./layer-add.js')).layerAdd },
  { name: 'layer seal', load: async () => (await import('./layer-add.js')).layerSeal },
  { name: 'layer list', load: async () => (await import('./layer-list.js')).layerList },
  { name: 'layer inspect', load: async () => (await import('./layer-inspect.js')).layerInspect },
  { name: 'layer rm', load: async () => (await import('./layer-rm.js')).layerRm },
  { name: 'layer tag', load: async () => (await import('./layer-tag.js')).layerTag },
  { name: 'layer untag', load: async () => (await import('./layer-tag.js')).layerUntag },
  { name: 'layer mount', load: async () => (await import('./layer-mount.js')).layerMount },
  { name: 'layer umount', load: async () => (await import('./layer-mount.js')).layerUmount },
  { name: 'layer mounts', load: async () => (await import('./layer-mount.js')).layerMounts },
  { name: 'layer export', load: async () => (await import('./layer-export.js')).layerExport },
  { name: 'layer diff', load: async () => (await import('./layer-diff.js')).layerDiff },
  { name: 'layer diff-create', load: async () => (await import('./layer-diff.js')).layerDiffCreate },
  { name: 'layer apply', load: async () => (await import('./layer-diff.js')).layerApply },
  { name: 'image ls', load: async () => (await import('./image.js')).imageLs },
  { name: 'images', load: async () => (await import('./image.js')).images },
  { name: 'image inspect', load: async () => (await import('./image.js')).imageInspect },
  { name: 'image history', load: async () => (await import('./image.js')).imageHistory },
  { name: 'image load', load: async () => (await import('./image-archive.js')).imageLoad },
  { name: 'load', load: async () => (await import('./image-archive.js')).loadAlias },
  { name: 'image pull', load: async () => (await import('./image-registry.js')).imagePull },
  { name: 'pull', load: async () => (await import('./image-registry.js')).pullAlias },
  { name: 'image push', load: async () => (await import('./image-registry.js')).imagePush },
  { name: 'push', load: async () => (await import('./image-registry.js')).pushAlias },
  { name: 'image save', load: async () => (await import('./image-archive.js')).imageSave },
  { name: 'save', load: async () => (await import('./image-archive.js')).saveAlias },
  { name: 'image tag', load: async () => (await import('./image.js')).imageTag },
  { name: 'tag', load: async () => (await import('./image.js')).tag },
  { name: 'image untag', load: async () => (await import('./image.js')).imageUntag },
  { name: 'image rm', load: async () => (await import('./image.js')).imageRm },
  { name: 'image mount', load: async () => (await import('./image.js')).imageMount },
  { name: 'image umount', load: async () => (await import('./image.js')).imageUmount },
  { name: 'rmi', load: async () => (await import('./image.js')).rmi },
  { name: 'run', load: async () => (await import('./run.js')).run },
  { name: 'ps', load: async () => (await import('./ps.js')).ps },
  { name: 'container create', load: async () => (await import('./container-create.js')).containerCreate },
  { name: 'container start', load: async () => (await import('./container-start.js')).containerStart },
  { name: 'container stop', load: async () => (await import('./container-stop.js')).containerStop },
  { name: 'container kill', load: async () => (await import('./container-stop.js')).containerKill },
  { name: 'container rm', load: async () => (await import('./container-rm.js')).containerRm },
  { name: 'container ps', load: async () => (await import('./ps.js')).containerPs },
  { name: 'container diff', load: async () => (await import('./container-changes.js')).containerDiff },
  { name: 'container commit', load: async () => (await import('./container-changes.js')).containerCommit },
  { name: 'container inspect', load: async () => (await import('./container-inspect.js')).containerInspect },
  { name: 'container logs', load: async () => (await import('./container-logs.js')).containerLogs },
  { name: 'login', load: async () => (await import('./login.js')).login },
  { name: 'logout', load: async () => (await import('./login.js')).logout },
  { name: 'service start', load: async () => (await import('./service.js')).serviceStart },
  { name: 'service stop', load: async () => (await import('./service.js')).serviceStop },
  { name: 'service status', load: async () => (await import('./service.js')).serviceStatus },
  { name: 'service run', load: async () => (await import('./service.js')).serviceRun },
  { name: 'demo overlay', load: async () => (await import('./demo.js')).demoOverlay },
  { name: 'demo cow', load: async () => (await import('./demo.js')).demoCow },
];
