/**
 * `shibafu demo overlay` through its library function, on the real kernel: each step's facts are
 * checked twice, in the demo's result and by looking at the live directories ourselves (lstat,
 * xattrs, mountinfo) while the demo pauses after the step. And whatever happens (the end, an error,
 * an abort), nothing is left mounted and the sandbox is gone.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { SILENT_OUTPUT, type DemoDirs, type DemoOutput, type DemoStep } from '../src/demo/demo-output.js';
import { runOverlayDemo } from '../src/demo/overlay-demo.js';
import { openStore } from '../src/store/store.js';
import { mountAt } from '../src/sys/mount-info.js';
import { lgetxattr } from '../src/sys/xattr.js';
import { mountsUnder, stepOf, tempDir } from './helpers/demo-test.js';
import { needsRoot } from './helpers/temp-store.js';

/** What the test itself sees in the live directories after each step. */
function checkLive(step: DemoStep, dirs: DemoDirs): void {
  const upper = dirs.upper ?? '';
  const lowerBase = dirs.lowers.at(-1) ?? '';
  switch (step.id) {
    case 'a':
      assert.equal(fs.readFileSync(join(dirs.merged, 'test.txt'), 'utf8'), 'from app\n');
      assert.equal(dirs.upper, null);
      assert.match(mountAt(dirs.merged)?.superOptions ?? '', /^ro,/, 'a stack of lowers alone is a read-only overlay');
      break;
    case 'b':
      assert.equal(dirs.lowers.length, 3);
      assert.deepEqual(fs.readdirSync(upper), []);
      assert.ok(fs.statSync(dirs.work ?? '').isDirectory());
      assert.match(mountAt(dirs.merged)?.superOptions ?? '', /^rw,.*upperdir=/);
      break;
    case 'c':
      assert.deepEqual(fs.readdirSync(upper), [], 'a read copies nothing up');
      break;
    case 'd':
      assert.equal(fs.readFileSync(join(upper, 'shared.txt'), 'utf8'), 'modified\n');
      assert.equal(fs.readFileSync(join(lowerBase, 'shared.txt'), 'utf8'), 'shared content\n', 'the lower file is unchanged');
      break;
    case 'e':
      assert.equal(fs.readFileSync(join(upper, 'new.txt'), 'utf8'), 'new content\n');
      for (const lower of dirs.lowers) assert.equal(fs.existsSync(join(lower, 'new.txt')), false);
      break;
    case 'f': {
      const st = fs.lstatSync(join(upper, 'base.txt'));
      assert.equal(st.isCharacterDevice(), true);
      assert.equal(st.rdev, 0);
      assert.equal(fs.existsSync(join(dirs.merged, 'base.txt')), false);
      assert.equal(fs.readFileSync(join(lowerBase, 'base.txt'), 'utf8'), 'base content\n');
      break;
    }
    case 'g':
      assert.equal(lgetxattr(join(upper, 'config'), 'trusted.overlay.opaque')?.toString(), 'y');
      assert.deepEqual(fs.readdirSync(join(dirs.merged, 'config')), ['settings.conf']);
      assert.deepEqual(fs.readdirSync(join(upper, 'config')), ['settings.conf']);
      break;
    default:
      assert.fail(`unexpected step ${step.id}`);
  }
}

describe('demo overlay (real kernel)', { skip: needsRoot }, () => {
  test('each step leaves exactly the expected upper dir, and the end leaves nothing behind', async () => {
    const tmp = tempDir();
    const checked: string[] = [];
    const lines: string[] = [];
    const out: DemoOutput = {
      say: (line) => lines.push(line),
      afterStep(step, dirs) {
        checkLive(step, dirs);
        checked.push(step.id);
      },
    };
    const r = await runOverlayDemo({ tmpDir: tmp, root: null, keep: false, out, signal: new AbortController().signal });
    assert.deepEqual(checked, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);

    const a = stepOf(r.steps, 'a');
    assert.equal(a.facts.testTxt, 'from app\n');
    assert.equal(a.facts.servedBy, 'app');
    assert.deepEqual(a.facts.lowerdirOrder, ['app', 'python', 'base']);
    assert.deepEqual(a.facts.config, { 'app.conf': 'base', 'log.conf': 'base', 'python.conf': 'python' });
    assert.equal(a.facts.writeError, 'EROFS');
    assert.equal(a.upper, null);
    assert.deepEqual(stepOf(r.steps, 'b').upper, []);
    assert.deepEqual(stepOf(r.steps, 'c').upper, []);
    assert.equal(stepOf(r.steps, 'c').facts.content, 'base content\n');

    const d = stepOf(r.steps, 'd');
    assert.deepEqual(d.upper?.map((e) => [e.path, e.type, e.mode, e.size]), [['shared.txt', 'file', 0o644, 9]]);
    assert.equal(d.facts.upperContent, 'modified\n');
    assert.equal(d.facts.lowerContent, 'shared content\n');
    assert.deepEqual(stepOf(r.steps, 'e').upper?.map((e) => e.path), ['new.txt', 'shared.txt']);

    const f = stepOf(r.steps, 'f');
    const whiteout = f.upper?.find((e) => e.path === 'base.txt');
    assert.deepEqual(whiteout && { type: whiteout.type, rdev: whiteout.rdev, whiteout: whiteout.whiteout, mode: whiteout.mode },
      { type: 'char', rdev: { major: 0, minor: 0 }, whiteout: true, mode: 0 });
    assert.deepEqual(f.facts.whiteout, { characterDevice: true, rdev: 0, major: 0, minor: 0 });

    const g = stepOf(r.steps, 'g');
    assert.equal(g.facts.opaque, 'y');
    assert.deepEqual(g.facts.after, ['settings.conf']);
    assert.deepEqual(g.upper?.map((e) => [e.path, e.type]), [
      ['base.txt', 'char'], ['config', 'dir'], ['config/settings.conf', 'file'], ['new.txt', 'file'], ['shared.txt', 'file'],
    ]);
    assert.equal(g.upper?.find((e) => e.path === 'config')?.xattrs['trusted.overlay.opaque'], 'y');

    // The prose says what the facts say.
    const text = lines.join('\n');
    for (const id of 'abcdefg') assert.match(text, new RegExp(`^\\[${id}\\] `, 'm'));
    assert.match(text, /c--------- +0, 0 +base\.txt +whiteout \(c 0 0\)$/m);
    assert.match(text, /config\/ +trusted\.overlay\.opaque=y/);

    assert.equal(r.cleanup.kept, false);
    assert.deepEqual(r.cleanup.done.filter((l) => l.startsWith('removed layer')), ['removed layer app', 'removed layer python', 'removed layer base']);
    assert.equal(fs.existsSync(r.sandbox), false, 'the sandbox (and its throw-away store) is gone');
    assert.deepEqual(fs.readdirSync(tmp), []);
    assert.deepEqual(mountsUnder(tmp), []);
  });

  test('in a given store it uses unique names and leaves only what was there', async () => {
    const tmp = tempDir();
    const root = join(tmp, 'user-store');
    const seed = join(tmp, 'seed');
    fs.mkdirSync(seed);
    fs.writeFileSync(join(seed, 'test.txt'), 'mine\n');
    const store = openStore({ root });
    await store.createLayer({ name: 'base', fromDir: seed });
    store.close();
    fs.rmSync(seed, { recursive: true });

    const r = await runOverlayDemo({ tmpDir: tmp, root, keep: false, out: SILENT_OUTPUT, signal: new AbortController().signal });
    assert.equal(r.throwAwayStore, false);
    assert.equal(stepOf(r.steps, 'a').facts.testTxt, 'from app\n');
    assert.equal(r.layers.every((l) => /^demo-[0-9a-f]{6}-/.test(l.storeName)), true);

    const after = openStore({ root });
    try {
      assert.deepEqual(after.listLayers().map((l) => l.names), [['base']], 'the user\'s layer stays, the demo\'s are gone');
      assert.deepEqual(after.listMounts(), []);
    } finally {
      after.close();
    }
    assert.deepEqual(fs.readdirSync(tmp), ['user-store']);
    assert.deepEqual(mountsUnder(tmp), []);
  });

  test('an error in a step still unmounts and removes everything, and is thrown', async () => {
    const tmp = tempDir();
    const out: DemoOutput = {
      say() {},
      afterStep(step) {
        if (step.id === 'e') throw new Error('boom after e');
      },
    };
    await assert.rejects(runOverlayDemo({ tmpDir: tmp, root: null, keep: false, out, signal: new AbortController().signal }), /boom after e/);
    assert.deepEqual(fs.readdirSync(tmp), []);
    assert.deepEqual(mountsUnder(tmp), []);
  });

  test('an abort between steps stops the demo and cleans up', async () => {
    const tmp = tempDir();
    const controller = new AbortController();
    const seen: string[] = [];
    const out: DemoOutput = {
      say() {},
      afterStep(step) {
        seen.push(step.id);
        if (step.id === 'd') controller.abort();
      },
    };
    await assert.rejects(runOverlayDemo({ tmpDir: tmp, root: null, keep: false, out, signal: controller.signal }), { name: 'AbortError' });
    assert.deepEqual(seen, ['a', 'b', 'c', 'd']);
    assert.deepEqual(fs.readdirSync(tmp), []);
    assert.deepEqual(mountsUnder(tmp), []);
  });

  test('--keep leaves the writable mount for the learner, with the commands that remove it', async () => {
    const tmp = tempDir();
    const r = await runOverlayDemo({ tmpDir: tmp, root: null, keep: true, out: SILENT_OUTPUT, signal: new AbortController().signal });
    assert.equal(r.cleanup.kept, true);
    assert.deepEqual(mountsUnder(tmp), [r.dirs.merged]);
    assert.equal(fs.lstatSync(join(r.dirs.upper ?? '', 'base.txt')).isCharacterDevice(), true);
    assert.deepEqual(r.cleanup.hints, [
      `shibafu --root ${r.store} layer umount ${r.dirs.merged}`,
      `rm -rf ${r.sandbox}`,
    ]);
    // Do what the hints say.
    const store = openStore({ root: r.store });
    try {
      store.unmount(r.dirs.merged);
    } finally {
      store.close();
    }
    fs.rmSync(r.sandbox, { recursive: true });
    assert.deepEqual(mountsUnder(tmp), []);
  });
});
