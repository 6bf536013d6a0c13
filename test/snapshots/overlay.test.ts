/**
 * The snapshotter contract on the overlay driver: real overlay mounts (root).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemMounter } from '../../src/overlay/system-mounter.js';
import { needsRoot } from '../helpers/temp-store.js';
import { overlayObjects } from './driver-fixture.js';
import { snapshotterContract } from './snapshotter-contract.js';

const OVERLAY_MODULE = fileURLToPath(new URL('../../src/snapshots/overlay/overlay-storage.js', import.meta.url));

for (const api of ['auto', 'legacy'] as const) {
  snapshotterContract({
    driver: api === 'auto' ? 'overlay' : 'overlay, legacy mount(2) with names relative to the root',
    skip: needsRoot,
    setup() {
      const root = mkdtempSync(join(tmpdir(), 'shibafu-overlay-'));
      const empty = join(root, 'empty');
      mkdirSync(empty);
      const mounter = systemMounter({ emptyDir: empty, api });
      const storageRoot = join(root, 'snapshots');
      return {
        root,
        spec: { module: OVERLAY_MODULE, factory: 'overlayStorage', args: { root: storageRoot } },
        mounter,
        mountTable: mounter,
        listObjects: () => overlayObjects(storageRoot),
        cleanup: () => rmSync(root, { recursive: true, force: true }),
      };
    },
  });
}
