/**
 * Two shibafu processes on one root at once (issue 2, point 2): two imports of different
 * content, two of identical content, an import and a `layer list`, an import and a `layer rm` of
 * another layer; several rounds each. Every command succeeds, no raw SQLite error ever reaches
 * the user, and afterwards rows and directories agree exactly. Real kernel, as root.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openStore } from '../src/store/store.js';
import type { LayerDetails, LayerSummary } from '../src/store/layer-views.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { tarOf } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot, type TempStore } from './helpers/temp-store.js';
import { bulkTar } from './fixtures/stream-producers.js';

const ROUNDS = 3;
/** 200 files of 32 KiB: an import long enough (~6.5 MB) to overlap the other process's work. */
const FILES = 200;
const FILE_SIZE = 32 * 1024;

type Created = LayerDetails & { existed: boolean };

function assertClean(r: CliResult, what: string): void {
  assert.doesNotMatch(r.stderr, /SQLITE/i, `${what}: raw SQLite error`);
  assert.equal(r.status, 0, `${what} failed: ${r.stderr}`);
  // Nothing to sweep, no warning: the other process's staging dir was never mistaken for a leftover.
  assert.equal(r.stderr, '', `${what} wrote to stderr`);
}

/** Rows and directories agree: one dir per sealed layer, nothing else, tmp/ empty, nothing to sweep. */
function assertConsistent(ts: TempStore): LayerSummary[] {
  const store = openStore({ root: ts.root });
  try {
    assert.deepEqual(store.swept, []);
    const layers = store.listLayers();
    const dirs = readdirSync(join(ts.root, 'layers')).sort();
    assert.deepEqual(dirs, layers.map((l) => l.chainId!.slice(7)).sort());
    assert.deepEqual(readdirSync(join(ts.root, 'tmp')), []);
    return layers;
  } finally {
    store.close();
  }
}

function create(ts: TempStore, name: string, file: string): Promise<CliResult> {
  return runCli(['--root', ts.root, 'layer', 'create', name, file, '--json']);
}

describe('two processes at once on one root', { skip: needsRoot }, () => {
  test('two imports of different content, starting on a fresh root each round', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ts = makeTempStore({ open: false });
      const a = ts.input('a.tar', bulkTar(`a${round}`, FILES, FILE_SIZE));
      const b = ts.input('b.tar', bulkTar(`b${round}`, FILES, FILE_SIZE));
      const [ra, rb] = await Promise.all([create(ts, 'a', a), create(ts, 'b', b)]);
      assertClean(ra, `round ${round} import a`);
      assertClean(rb, `round ${round} import b`);
      assert.equal((JSON.parse(ra.stdout) as Created).existed, false);
      assert.equal((JSON.parse(rb.stdout) as Created).existed, false);
      const layers = assertConsistent(ts);
      assert.deepEqual(layers.map((l) => l.names).flat().sort(), ['a', 'b']);
      ts.cleanup();
    }
  });

  test('two imports of identical content: one creates, the other reports existed', async () => {
    const ts = makeTempStore({ open: false });
    for (let round = 0; round < ROUNDS; round++) {
      const tar = ts.input(`same${round}.tar`, bulkTar(`same${round}`, FILES, FILE_SIZE));
      const [r1, r2] = await Promise.all([create(ts, `one${round}`, tar), create(ts, `two${round}`, tar)]);
      assertClean(r1, `round ${round} first`);
      assertClean(r2, `round ${round} second`);
      const c1 = JSON.parse(r1.stdout) as Created;
      const c2 = JSON.parse(r2.stdout) as Created;
      assert.deepEqual([c1.existed, c2.existed].sort(), [false, true]);
      assert.equal(c1.chainId, c2.chainId);
      const layers = assertConsistent(ts);
      const mine = layers.filter((l) => l.chainId === c1.chainId);
      assert.equal(mine.length, 1, 'exactly one layer row');
      assert.deepEqual(mine[0]!.names.sort(), [`one${round}`, `two${round}`]);
      assert.equal(layers.length, round + 1);
    }
  });

  test('an import and a `layer list`: the list never fails', async () => {
    const ts = makeTempStore({ open: false });
    for (let round = 0; round < ROUNDS; round++) {
      const tar = ts.input(`l${round}.tar`, bulkTar(`list${round}`, FILES, FILE_SIZE));
      const [ri, rl1, rl2] = await Promise.all([
        create(ts, `l${round}`, tar),
        runCli(['--root', ts.root, 'layer', 'list', '--json']),
        runCli(['--root', ts.root, 'layer', 'list']),
      ]);
      assertClean(ri, `round ${round} import`);
      assertClean(rl1, `round ${round} list --json`);
      assertClean(rl2, `round ${round} list`);
      // The list shows the store before or after the import's commit, never in between.
      const listed = (JSON.parse(rl1.stdout) as LayerSummary[]).map((l) => l.names[0]);
      const prior = Array.from({ length: round }, (_, i) => `l${i}`);
      assert.ok(
        JSON.stringify(listed) === JSON.stringify(prior) || JSON.stringify(listed) === JSON.stringify([...prior, `l${round}`]),
        `round ${round}: list showed ${JSON.stringify(listed)}`,
      );
      assert.match(rl2.stdout, /^NAME +LAYER ID +PARENT +SIZE +FILES +CREATED +STATE\n/);
      assert.equal(assertConsistent(ts).length, round + 1);
    }
  });

  test('an import and a `layer rm` of another layer', async () => {
    const ts = makeTempStore({ open: false });
    for (let round = 0; round < ROUNDS; round++) {
      const victim = await runCli(['--root', ts.root, 'layer', 'create', `victim${round}`, ts.input(`v${round}.tar`, tarOf((t) => t.file('v', `victim ${round}`))), '--json']);
      assertClean(victim, 'victim');
      const victimId = (JSON.parse(victim.stdout) as Created).chainId!;
      const tar = ts.input(`n${round}.tar`, bulkTar(`new${round}`, FILES, FILE_SIZE));
      const [ri, rr] = await Promise.all([
        create(ts, `new${round}`, tar),
        runCli(['--root', ts.root, 'layer', 'rm', `victim${round}`]),
      ]);
      assertClean(ri, `round ${round} import`);
      assertClean(rr, `round ${round} rm`);
      assert.equal(rr.stdout, `removed layer ${victimId.slice(7, 19)} (victim${round})\n`);
      const layers = assertConsistent(ts);
      assert.deepEqual(layers.map((l) => l.names[0]), Array.from({ length: round + 1 }, (_, i) => `new${i}`));
    }
  });
});
