/**
 * A reader that goes away: `shibafu layer list | head -1` must end like a tool killed by
 * SIGPIPE (status 141), quietly, not with an EPIPE stack trace. And a slow reader on a pipe that
 * is non-blocking gets everything: text is written to fd 1 directly (src/cli/run.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { collect, runCli, SHIBAFU_BIN, startCli } from './helpers/cli.js';
import { tarOf } from './helpers/tar-builder.js';
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

test('a stdout pipe left non-blocking by another program (EAGAIN) still gets all of the output', async () => {
  const ts = makeTempStore();
  // A chain of 300 layers: each its own row in the listing.
  for (let i = 0; i < 300; i++) {
    const tar = ts.input(`l${i}.tar`, tarOf((t) => t.file('f', `${i}\n`)));
    await ts.store.createLayer({ name: `layer-with-a-long-name-${i}`, source: tar, ...(i > 0 ? { parent: `layer-with-a-long-name-${i - 1}` } : {}) });
  }
  ts.store.close();
  const expected = await runCli(['--root', ts.root, 'layer', 'list', '--json']);
  assert.equal(expected.status, 0, expected.stderr);
  assert.ok(expected.stdout.length > 64 * 1024, `only ${expected.stdout.length} bytes: not enough to fill a pipe`);
  // Node makes a pipe non-blocking when it creates process.stdout for it: this wrapper does, then
  // runs the CLI in the same process, whose writes past the pipe's 64 KiB get EAGAIN while the
  // reader (the subshell) sleeps.
  const wrapper = `process.stdout; process.argv.splice(1, 0, ${JSON.stringify(SHIBAFU_BIN)}); require(${JSON.stringify(SHIBAFU_BIN)});`;
  const out = join(ts.inputs, 'list.json');
  const r = spawnSync('bash', ['-c', 'set -o pipefail; "$0" -e "$1" -- --root "$2" layer list --json | { sleep 0.5; cat > "$3"; }', process.execPath, wrapper, ts.root, out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(out, 'utf8'), expected.stdout);
});
