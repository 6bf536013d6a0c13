/**
 * The snapshotter contract on the test driver (no root, no mounts: the fake bind mounter).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFakeMounter } from '../../src/overlay/fake-mounter.js';
import { snapshotterContract } from './snapshotter-contract.js';

const NAIVE_MODULE = fileURLToPath(new URL('../../src/snapshots/naive/naive-storage.js', import.meta.url));

snapshotterContract({
  driver: 'naive (fake, no root)',
  skip: false,
  setup() {
    const root = mkdtempSync(join(tmpdir(), 'shibafu-naive-'));
    const mounter = createFakeMounter({ bindAsSymlink: true });
    const storageRoot = join(root, 'snapshots');
    return {
      root,
      spec: { module: NAIVE_MODULE, factory: 'naiveStorage', args: { root: storageRoot } },
      mounter,
      mountTable: mounter,
      listObjects: () => readdirSync(storageRoot).sort(),
      cleanup: () => rmSync(root, { recursive: true, force: true }),
    };
  },
});
