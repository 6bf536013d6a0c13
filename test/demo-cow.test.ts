/**
 * `shibafu demo cow` through its library function, on the real kernel: the exact sizes in the
 * upper dir after the read and the append, the disk use, and the clean-up. Timings are only
 * checked to be there (STYLE.md: performance is measured in benchmarks, never asserted in tests).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { isShibafuError } from '../src/errors.js';
import { runCowDemo } from '../src/demo/cow-demo.js';
import { SILENT_OUTPUT, type DemoOutput } from '../src/demo/demo-output.js';
import { mountsUnder, stepOf, tempDir } from './helpers/demo-test.js';
import { needsRoot } from './helpers/temp-store.js';

/** Not a multiple of the block or chunk size, so an off-by-one in any copy shows. */
const SIZE = 3 * 1024 * 1024 + 5;

describe('demo cow (real kernel)', { skip: needsRoot }, () => {
  test('a read copies nothing; a one-byte append copies the whole file up', async () => {
    const tmp = tempDir();
    const live: Record<string, string[] | number> = {};
    const out: DemoOutput = {
      say() {},
      afterStep(step, dirs) {
        const upper = dirs.upper ?? '';
        if (step.id === '1' || step.id === '2') live[step.id] = fs.readdirSync(upper);
        if (step.id === '3') {
          const st = fs.lstatSync(join(upper, 'big.bin'));
          assert.equal(st.isFile(), true);
          live['3'] = st.size;
          live.lower = fs.statSync(join(dirs.lowers[0] ?? '', 'big.bin')).size;
        }
      },
    };
    const r = await runCowDemo({ size: SIZE, tmpDir: tmp, root: null, keep: false, out, signal: new AbortController().signal });

    assert.deepEqual(live['1'], []);
    assert.deepEqual(live['2'], [], 'reading the whole file through the overlay copied nothing up');
    assert.equal(live['3'], SIZE + 1, 'the append copied all SIZE bytes up, then added one');
    assert.equal(live.lower, SIZE, 'the lower file is unchanged');

    assert.deepEqual(stepOf(r.steps, '1').upper, []);
    assert.deepEqual(stepOf(r.steps, '2').upper, []);
    assert.equal(stepOf(r.steps, '2').facts.bytesRead, SIZE);
    assert.deepEqual(stepOf(r.steps, '3').upper?.map((e) => [e.path, e.type, e.size]), [['big.bin', 'file', SIZE + 1]]);
    assert.equal(stepOf(r.steps, '3').facts.lowerSize, SIZE);
    // The new files of step 5 were written through the overlay and deleted: no lower had them, so
    // no whiteout stays; only the second append shows.
    assert.deepEqual(stepOf(r.steps, '5').upper?.map((e) => [e.path, e.size]), [['big.bin', SIZE + 2]]);

    // du: the upper went from an empty dir to holding a full copy (st_blocks, allocation rounded up).
    assert.ok(r.disk.before.upper < 64 * 1024, `upper before: ${r.disk.before.upper}`);
    assert.ok(r.disk.after.upper >= SIZE + 1, `upper after: ${r.disk.after.upper}`);
    assert.ok(r.disk.before.lower >= SIZE);
    assert.equal(r.disk.after.lower, r.disk.before.lower);
    for (const [name, ms] of Object.entries(r.timings)) assert.ok(Number.isFinite(ms) && ms >= 0, `${name} = ${ms}`);
    assert.equal(Object.keys(r.timings).length, 8);

    assert.equal(fs.existsSync(r.sandbox), false);
    assert.deepEqual(fs.readdirSync(tmp), []);
    assert.deepEqual(mountsUnder(tmp), []);
  });

  test('a size the disk cannot hold is refused before anything is written', async () => {
    const tmp = tempDir();
    await assert.rejects(
      runCowDemo({ size: 2 ** 50, tmpDir: tmp, root: null, keep: false, out: SILENT_OUTPUT, signal: new AbortController().signal }),
      (err) => isShibafuError(err, 'NO_SPACE') && /--size 1024\.0 TiB/.test(err.message),
    );
    assert.deepEqual(fs.readdirSync(tmp), []);
  });

  test('an abort stops it and cleans up', async () => {
    const tmp = tempDir();
    const controller = new AbortController();
    const out: DemoOutput = { say() {}, afterStep(step) { if (step.id === '3') controller.abort(); } };
    await assert.rejects(runCowDemo({ size: SIZE, tmpDir: tmp, root: null, keep: false, out, signal: controller.signal }), { name: 'AbortError' });
    assert.deepEqual(fs.readdirSync(tmp), []);
    assert.deepEqual(mountsUnder(tmp), []);
  });
});
