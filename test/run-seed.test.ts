/**
 * The seed's example, as written (issue 3, point 1): layers `base` (busybox), `python` (a real
 * Python runtime) and `app` (/app/app.py), then `shibafu run --layers base,python,app python3
 * /app/app.py` prints the greeting; a --rm container's change to /app/app.py stays in its upper.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { makeAppTree, makePythonTree, GREETING, PYTHON } from './fixtures/rootfs-python.js';
import { containerSkip, containerStore } from './container-harness.js';

const skip = containerSkip || (existsSync(PYTHON) ? false : `needs ${PYTHON} (apt-get install python3-minimal)`);

describe('the seed example: base, python, app', { skip }, () => {
  const cs = containerStore({ skip });

  before(async () => {
    makePythonTree(join(cs.ts.inputs, 'python'));
    makeAppTree(join(cs.ts.inputs, 'app'));
    for (const [name, parent] of [['python', 'base'], ['app', 'python']] as const) {
      const r = await cs.cli(['layer', 'create', name, '--from-dir', join(cs.ts.inputs, name), '--parent', parent]);
      if (r.status !== 0) throw new Error(`layer create ${name}: ${r.stderr}`);
    }
  });

  test('shibafu run --layers base,python,app python3 /app/app.py prints the greeting', async () => {
    const r = await cs.cli(['run', '--layers', 'base,python,app', 'python3', '/app/app.py']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, `${GREETING}\n`);
    assert.equal(r.status, 0);
  });

  test('the app layer alone brings its ancestors; the stack is shown bottom first', async () => {
    const r = await cs.cli(['run', '--name', 'short', 'app', 'python3', '-c', 'import sys; print(sys.version_info[:2])']);
    assert.equal(r.stdout, '(3, 11)\n');
    const ps = await cs.cli(['ps', '-a']);
    assert.match(ps.stdout, /\nshort +[0-9a-f]{12} +exited +base,python,app +python3 -c /);
  });

  test('a --rm container changes /app/app.py in its own upper only', async () => {
    const r = await cs.cli(['run', '--rm', '--layers', 'base,python,app', 'sh', '-c', 'echo changed > /app/app.py; ls /']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^app\nbin\n/);
    const again = await cs.cli(['run', '--rm', '--layers', 'base,python,app', 'python3', '/app/app.py']);
    assert.equal(again.stdout, `${GREETING}\n`);
  });
});
