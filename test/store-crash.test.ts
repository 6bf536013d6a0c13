/**
 * A killed import (issue 2, point 2): SIGKILL the CLI in the middle of an archive's data, then
 * open the store. Nothing is visible (no row, no layer dir), the open sweeps the staging dir and
 * says so, and nothing is left in tmp/. Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { collect, runCli, startCli } from './helpers/cli.js';
import { tarOf } from './helpers/tar-builder.js';
import { importSnapshotDir } from './helpers/import-snapshot.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { snapshotStore } from './helpers/tree-snapshot.js';
import { BigFileFeeder } from './fixtures/stream-producers.js';

const MiB = 1024 * 1024;
/** The archive's one file: far more than the test ever lets through before the kill. */
const BIG = 300 * MiB;
/** Staged bytes that prove the import is under way (past open, sniffing and the first entry). */
const MID_IMPORT = 16 * MiB;

/** Polls until `probe` returns a value (no timing assertion: node:test's timeout bounds it). */
async function waitFor<T>(probe: () => T | undefined, what: string, child: { exitCode: number | null }): Promise<T> {
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (child.exitCode !== null) throw new Error(`the CLI exited (${child.exitCode}) before ${what}`);
    await sleep(20);
  }
}

/** The staging dir of the running import once its file holds at least MID_IMPORT bytes. */
function stagedMidImport(ts: TempStore): string | undefined {
  const tmp = join(ts.root, 'tmp');
  for (const name of readdirSync(tmp)) {
    // The import's files are in its snapshot, import-<token> (layer-commit.ts makeStagedLayerDir).
    const big = join(importSnapshotDir(ts.root, name.slice(name.lastIndexOf('-') + 1)) ?? '/nonexistent', 'big');
    try {
      if (statSync(big).size >= MID_IMPORT) return join(tmp, name);
    } catch {
      // Not there yet.
    }
  }
  return undefined;
}

async function prepare(ts: TempStore): Promise<ReturnType<typeof snapshotStore>> {
  await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', tarOf((t) => t.file('keep', 'keep'))) });
  const snap = snapshotStore(ts.store);
  // The test process must not hold the store open while the CLI works and is killed.
  ts.store.close();
  return snap;
}

describe('a killed import leaves nothing visible and is swept on the next open', { skip: needsRoot }, () => {
  test('SIGINT mid-import: exit 130, cleaned up at once (nothing left even to sweep)', async () => {
    const ts = makeTempStore();
    const before = await prepare(ts);
    let feeder: BigFileFeeder | undefined;
    const child = startCli(['--root', ts.root, 'layer', 'create', 'big', '-'], {
      stdin: (c) => { feeder = new BigFileFeeder(c.stdin!, BIG); void feeder.start(); },
    });
    const done = collect(child);
    await waitFor(() => stagedMidImport(ts), 'the import got under way', child);
    child.kill('SIGINT');
    // The producer keeps writing, as `curl URL | shibafu layer create x -` would: the CLI must
    // still stop on its own rather than wait for the end of its input.
    const r = await done;
    feeder?.stop();
    assert.equal(r.status, 130, r.stderr);
    assert.equal(r.stderr, 'error[INTERRUPTED]: interrupted; nothing was changed\n');
    assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
    const store = ts.reopen();
    assert.deepEqual(store.swept, []);
    assert.deepEqual(snapshotStore(store), before);
  });

  test('a bad archive on an endless stdin: the CLI fails with exit 5 without waiting for EOF', async () => {
    const ts = makeTempStore();
    const before = await prepare(ts);
    let feeder: BigFileFeeder | undefined;
    const child = startCli(['--root', ts.root, 'layer', 'create', 'big', '-', '--max-size', String(MID_IMPORT)], {
      stdin: (c) => { feeder = new BigFileFeeder(c.stdin!, BIG); void feeder.start(); },
    });
    const r = await collect(child);
    feeder?.stop();
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /^error\[LIMIT_EXCEEDED\]: /);
    assert.ok((feeder?.written ?? 0) < BIG, 'the CLI read its whole input before stopping');
    const store = ts.reopen();
    assert.deepEqual(store.swept, []);
    assert.deepEqual(snapshotStore(store), before);
  });

  test('SIGKILL mid-import from stdin; openStore() reports the staging dir it swept', async () => {
    const ts = makeTempStore();
    const before = await prepare(ts);
    let feeder: BigFileFeeder | undefined;
    const child = startCli(['--root', ts.root, 'layer', 'create', 'big', '-', '--parent', 'base'], {
      stdin: (c) => { feeder = new BigFileFeeder(c.stdin!, BIG); void feeder.start(); },
    });
    const done = collect(child);
    const staging = await waitFor(() => stagedMidImport(ts), 'the import got under way', child);
    assert.match(staging, /\/tmp\/import-[0-9a-f]{16}$/);
    child.kill('SIGKILL');
    feeder?.stop();
    const r = await done;
    assert.equal(r.signal, 'SIGKILL');
    assert.ok((feeder?.written ?? 0) < BIG, 'the archive was still being produced when the CLI died');
    // The kill left the staged files behind: that is what the sweep is for.
    assert.ok(existsSync(staging));

    const store = ts.reopen();
    assert.deepEqual(store.swept, [{ path: staging, kind: 'import', action: 'removed' }]);
    assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
    const after = snapshotStore(store);
    assert.equal(after.layers, before.layers, 'no row for the killed import');
    assert.deepEqual(after.tree, before.tree, 'no directory for the killed import');
    assert.throws(() => store.resolve('big'), { code: 'LAYER_NOT_FOUND' });
    // A second open finds nothing more.
    assert.deepEqual(ts.reopen().swept, []);
  });

  test('SIGKILL mid-import from a fifo; the next CLI command says what it swept', async () => {
    const ts = makeTempStore();
    const before = await prepare(ts);
    const fifo = join(ts.inputs, 'layer.fifo');
    execFileSync('mkfifo', [fifo]);
    const child = startCli(['--root', ts.root, 'layer', 'create', 'big', fifo]);
    const done = collect(child);
    // Opening the fifo for writing waits for the CLI to open it for reading.
    const out = createWriteStream(fifo);
    const feeder = new BigFileFeeder(out, BIG);
    void feeder.start();
    const staging = await waitFor(() => stagedMidImport(ts), 'the import got under way', child);
    child.kill('SIGKILL');
    feeder.stop();
    out.destroy();
    assert.equal((await done).signal, 'SIGKILL');

    const list = await runCli(['--root', ts.root, 'layer', 'list', '--json']);
    assert.equal(list.status, 0, list.stderr);
    assert.equal(list.stderr, `shibafu: swept import leftover of an interrupted operation: ${staging} (removed)\n`);
    const rows = JSON.parse(list.stdout) as Array<{ names: string[] }>;
    assert.deepEqual(rows.map((l) => l.names), [['base']]);
    const store = ts.reopen();
    assert.deepEqual(store.swept, []);
    assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
    assert.deepEqual(snapshotStore(store).tree, before.tree);
  });
});
