/**
 * A reader that goes away: `shibafu layer list | head -1` must end like a tool killed by
 * SIGPIPE (status 141), quietly, not with an EPIPE stack trace.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { collect, runCli, startCli } from './helpers/cli.js';
import { makeTempStore } from './helpers/temp-store.js';

test('layer list into a closed pipe exits 141 without an error message', async () => {
  const ts = makeTempStore({ open: false });
  const dir = join(ts.inputs, 'tree');
  mkdirSync(dir);
  writeFileSync(join(dir, 'f'), 'x\n');
  for (let i = 0; i < 3; i++) {
    assert.equal((await runCli(['--root', ts.root, 'layer', 'create', `l${i}`, '--from-dir', dir, ...(i > 0 ? ['--parent', `l${i - 1}`] : [])])).status, 0);
  }
  const child = startCli(['--root', ts.root, 'layer', 'list']);
  // Close our end before the child has started: its first write fails with EPIPE.
  child.stdout?.destroy();
  const r = await collect(child);
  assert.equal(r.status, 141);
  assert.equal(r.stderr, '');
  // Nothing was left half-done: the next command sees the store as before.
  const again = await runCli(['--root', ts.root, 'layer', 'list', '--json']);
  assert.equal(again.status, 0);
  assert.deepEqual((JSON.parse(again.stdout) as { names: string[] }[]).flatMap((l) => l.names).sort(), ['l0', 'l1', 'l2']);
});
