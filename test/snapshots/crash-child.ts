/**
 * The crash tests' child: opens a driver's snapshotter on a fixture root and runs one operation,
 * killing itself with SIGKILL at the named checkpoint (a real crash: no finally, no dispose, the
 * kernel drops its locks). argv[2] is JSON: { spec, root, point, op: [name, ...args] }.
 */
import type { StorageSpec } from './driver-fixture.js';
import { contextFor, openStorage } from './driver-fixture.js';
import { openSnapshotter } from '../../src/snapshots/meta-snapshotter.js';

interface ChildArgs {
  readonly spec: StorageSpec;
  readonly root: string;
  readonly point: string;
  readonly op: readonly [string, ...string[]];
}

const args = JSON.parse(process.argv[2] as string) as ChildArgs;
const ctx = contextFor(args.root, { isInUse: () => false }, (point) => {
  if (point === args.point) process.kill(process.pid, 'SIGKILL');
});
const sn = openSnapshotter(ctx, await openStorage(args.spec));
const [name, ...rest] = args.op;
switch (name) {
  case 'prepare': sn.prepare(rest[0] as string, rest[1] ?? null); break;
  case 'view': sn.view(rest[0] as string, rest[1] as string); break;
  case 'commit': sn.commit(rest[0] as string, rest[1] as string); break;
  case 'remove': sn.remove(rest[0] as string); break;
  default: throw new Error(`unknown op ${name}`);
}
// Reaching here means the checkpoint was never passed: the test fails on the exit status.
process.exit(3);
