/**
 * Hostile and broken archives (issue 2, point 4): each fails with its stable code and exit status
 * 5, writes nothing outside the layer (the canary next to the store and well-known escape
 * targets stay as they were), and leaves the store exactly as it was: the same rows, no new
 * directory, nothing in tmp/ now or for the next open to sweep. Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { isShibafuError, ShibafuError } from '../src/errors.js';
import { openStore, type Store } from '../src/store/store.js';
import { runCli } from './helpers/cli.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { assertStoreUnchanged, snapshotStore, snapshotTree, type TreeSnapshot } from './helpers/tree-snapshot.js';
import { tarOf } from './helpers/tar-builder.js';
import { writeGzipBomb } from './fixtures/compression-bomb.js';
import { ESCAPE_TARGETS, HOSTILE_CASES, type HostileCase } from './fixtures/hostile-archives.js';

const MiB = 1024 * 1024;

/** Everything the test can see outside the store: the canary and the other files next to it. */
interface Outside {
  readonly tree: TreeSnapshot;
  readonly targets: boolean[];
}

function snapshotOutside(ts: TempStore): Outside {
  return {
    tree: snapshotTree(ts.base, (rel) => rel === 'store' || rel === 'inputs'),
    targets: ESCAPE_TARGETS.map((p) => existsSync(p)),
  };
}

function assertOutsideUnchanged(ts: TempStore, before: Outside): void {
  assert.deepEqual(snapshotTree(ts.base, (rel) => rel === 'store' || rel === 'inputs'), before.tree, 'something next to the store changed');
  assert.deepEqual(ESCAPE_TARGETS.map((p) => existsSync(p)), before.targets, 'an escape target appeared');
}

async function expectImportError(promise: Promise<unknown>, code: string): Promise<ShibafuError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  assert.ok(err !== null, `the import succeeded; expected ${code}`);
  assert.ok(isShibafuError(err), `expected a ShibafuError, got ${String((err as Error)?.stack ?? err)}`);
  assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
  assert.equal(err.exitStatus, 5);
  return err;
}

describe('hostile archives through the library', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  before(async () => {
    // A store with content, so "unchanged" compares more than an empty table.
    await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', tarOf((t) => t.dir('etc').file('etc/hostname', 'base\n'))) });
  });

  test('the store root is mode 0700 (it holds setuid binaries and device nodes)', () => {
    assert.equal(statSync(ts.root).mode & 0o7777, 0o700);
  });

  HOSTILE_CASES.forEach((c, i) => {
    test(`${c.title} → ${c.code}`, async () => {
      const archive = c.build({ canary: ts.canary });
      const path = ts.input(`hostile-${i}.tar`, archive);
      const storeBefore = snapshotStore(ts.store);
      const outsideBefore = snapshotOutside(ts);
      // Limit cases open the same root with their limits, as `--max-*` flags do.
      const store: Store = c.limits === undefined ? ts.store : openStore({ root: ts.root, limits: c.limits });
      try {
        // Alternate root layers and child layers: both paths must fail the same way.
        await expectImportError(store.createLayer({ name: `x${i}`, source: path, ...(i % 2 === 1 ? { parent: 'base' } : {}) }), c.code);
      } finally {
        if (store !== ts.store) store.close();
      }
      assertOutsideUnchanged(ts, outsideBefore);
      assertStoreUnchanged(ts.store, storeBefore, () => ts.reopen());
    });
  });

  test('a hostile archive on stdin (a Readable) fails the same way', async () => {
    const c = HOSTILE_CASES.find((h) => h.title === 'symlink to the canary, then a file through it') as HostileCase;
    const storeBefore = snapshotStore(ts.store);
    const outsideBefore = snapshotOutside(ts);
    await expectImportError(ts.store.createLayer({ name: 'stdin', source: Readable.from([c.build({ canary: ts.canary })]) }), c.code);
    assertOutsideUnchanged(ts, outsideBefore);
    assertStoreUnchanged(ts.store, storeBefore, () => ts.reopen());
  });

  test('a failed import leaves the name free for a good one', async () => {
    const good = ts.input('good.tar', tarOf((t) => t.file('ok', 'ok')));
    const result = await ts.store.createLayer({ name: 'x0', source: good });
    assert.equal(result.existed, false);
    assert.deepEqual(result.layer.names, ['x0']);
    ts.store.removeLayer('x0');
  });
});

describe('hostile archives through the CLI (bin/shibafu, exit status 5)', { skip: needsRoot }, () => {
  const ts = makeTempStore();
  before(async () => {
    await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', tarOf((t) => t.file('f', 'base'))) });
  });

  const titles = [
    '"../evil"',
    'absolute "/etc/evil"',
    'symlink to the canary, then a file through it',
    'symlink chain a -> b, b -> .., then a/evil',
    'hardlink to "../../etc/passwd"',
    'forged trusted.overlay.opaque',
    'a character device 0/0 given directly',
    'truncated inside file data',
    'truncated gzip stream',
    'corrupt zstd checksum',
    'bad header checksum',
    'the same file twice',
    'a file whose parent is a file ("a", then "a/b")',
    'entry-count limit',
    'depth limit',
    'sparse map larger than its real size (old GNU)',
    'sparse map announcing a billion segments (PAX 1.0)',
    'sparse file larger than --max-size',
  ];
  for (const title of titles) {
    const c = HOSTILE_CASES.find((h) => h.title === title);
    assert.ok(c !== undefined, title);
    test(`shibafu layer create x FILE: ${title} → ${c.code}`, async () => {
      const path = ts.input('hostile.tar', c.build({ canary: ts.canary }));
      const storeBefore = snapshotStore(ts.store);
      const outsideBefore = snapshotOutside(ts);
      const r = await runCli(['--root', ts.root, 'layer', 'create', 'x', path, '--parent', 'base', ...(c.cliFlags ?? [])]);
      assert.equal(r.status, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`^error\\[${c.code}\\]: Cannot `));
      assert.equal(r.stdout, '');
      assert.doesNotMatch(r.stderr, /SQLITE/);
      assertOutsideUnchanged(ts, outsideBefore);
      assertStoreUnchanged(ts.store, storeBefore, () => ts.reopen());
    });
  }

  test('shibafu layer create x - (stdin): a path escape → PATH_UNSAFE, exit 5', async () => {
    const storeBefore = snapshotStore(ts.store);
    const r = await runCli(['--root', ts.root, 'layer', 'create', 'x', '-'], { stdin: tarOf((t) => t.file('ok', 'x').file('../evil', 'evil')) });
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /^error\[PATH_UNSAFE\]: Cannot import entry "\.\.\/evil"/);
    assertStoreUnchanged(ts.store, storeBefore, () => ts.reopen());
  });
});

describe('compression bomb: a 2 GiB file of zeros in a ~2 MB gzip', { skip: needsRoot }, () => {
  const maxBytes = 100 * MiB;
  const ts = makeTempStore({ limits: { maxBytes } });
  let bomb: string;
  before(() => {
    // Named .tar on purpose: the gzip is found by its magic bytes.
    bomb = join(ts.inputs, 'bomb.tar');
    const info = writeGzipBomb(bomb, 2 * 1024 * MiB);
    assert.equal(info.tarSize, 2 * 1024 * MiB + 512 + 1024);
    assert.ok(info.gzipSize < 3 * MiB, `bomb is ${info.gzipSize} bytes`);
  });

  test('stops with LIMIT_EXCEEDED at the limit, disk use bounded by it', async () => {
    const storeBefore = snapshotStore(ts.store);
    const tmp = join(ts.root, 'tmp');
    let peakDisk = 0;
    let peakBytes = 0;
    // Sampled on every progress report (one per decompressed chunk): the staged bytes on disk.
    const onProgress = (p: { bytes: number }): void => {
      peakBytes = Math.max(peakBytes, p.bytes);
      peakDisk = Math.max(peakDisk, allocatedUnder(tmp) + allocatedUnder(join(ts.root, 'snapshots')));
    };
    await expectImportError(ts.store.createLayer({ name: 'bomb', source: bomb, onProgress }), 'LIMIT_EXCEEDED');
    assert.ok(peakBytes <= maxBytes, `the importer took ${peakBytes} bytes past a ${maxBytes} limit`);
    // The file data is the tar minus headers: at most the limit, plus a few blocks of metadata,
    // plus the compressed bytes read so far, kept in the same pass as the layer's blob (at most
    // the bomb itself, a few MB).
    assert.ok(peakDisk <= maxBytes + MiB + statSync(bomb).size, `staging used ${peakDisk} bytes of disk`);
    // The sampling saw the import at work (guards against a probe that measures nothing).
    assert.ok(peakDisk >= maxBytes / 2, `staging peak ${peakDisk} bytes is implausibly low`);
    assertStoreUnchanged(ts.store, storeBefore, () => ts.reopen());
  });

  test('through the CLI with --max-size: exit 5, LIMIT_EXCEEDED', async () => {
    const storeBefore = snapshotStore(ts.store);
    const r = await runCli(['--root', ts.root, 'layer', 'create', 'bomb', bomb, '--max-size', String(maxBytes)]);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /^error\[LIMIT_EXCEEDED\]: Cannot import: the archive expands past the limit of 104857600 bytes/);
    assertStoreUnchanged(ts.store, storeBefore, () => ts.reopen());
  });
});

/** Bytes allocated on disk by everything under `dir` (st_blocks, as du counts). */
function allocatedUnder(dir: string): number {
  let total = 0;
  const walk = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return; // removed while walking
    }
    total += st.blocks * 512;
    if (st.isDirectory()) {
      let names: string[] = [];
      try { names = readdirSync(p); } catch { return; }
      for (const n of names) walk(join(p, n));
    }
  };
  walk(dir);
  return total;
}
