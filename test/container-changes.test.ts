/**
 * `container diff` and `container commit` through the CLI, on real containers (runc, overlay).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { containerSkip, containerStore } from './container-harness.js';

describe('container diff and commit', { skip: containerSkip }, () => {
  const cs = containerStore();

  test('diff lists a stopped container\'s changes with exact sizes', async () => {
    // 5 bytes added, /etc/passwd replaced by 3 bytes, /etc/group (known size) deleted.
    const group = await cs.cli(['run', '--rm', 'base', 'wc', '-c', '/etc/group']);
    const groupSize = Number(group.stdout.trim().split(/\s+/)[0]);
    const r = await cs.cli(['run', '--name', 'c1', 'base', 'sh', '-c', 'printf hello > /new.txt; printf abc > /etc/passwd; rm /etc/group']);
    assert.equal(r.status, 0, r.stderr);
    const diff = await cs.cli(['container', 'diff', 'c1', '--json']);
    assert.equal(diff.status, 0, diff.stderr);
    const changes = JSON.parse(diff.stdout) as { path: string; kind: string; oldSize: number | null; newSize: number | null }[];
    const byPath = new Map(changes.map((c) => [c.path, c]));
    assert.deepEqual({ kind: byPath.get('/new.txt')?.kind, newSize: byPath.get('/new.txt')?.newSize }, { kind: 'A', newSize: 5 });
    assert.equal(byPath.get('/etc/passwd')?.kind, 'C');
    assert.equal(byPath.get('/etc/passwd')?.newSize, 3);
    assert.deepEqual({ kind: byPath.get('/etc/group')?.kind, oldSize: byPath.get('/etc/group')?.oldSize }, { kind: 'D', oldSize: groupSize });
    const human = await cs.cli(['container', 'diff', 'c1']);
    assert.match(human.stdout, /^A \/new\.txt/m);
    assert.match(human.stdout, /^D \/etc\/group/m);
  });

  test('commit makes the changes a layer on the stack; a container on it sees them', async () => {
    const r = await cs.cli(['container', 'commit', 'c1', 'base-changed', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const layer = JSON.parse(r.stdout) as { chainId: string; parent: string; names: string[] };
    assert.deepEqual(layer.names, ['base-changed']);
    const base = JSON.parse((await cs.cli(['layer', 'inspect', 'base', '--json'])).stdout) as { chainId: string };
    assert.equal(layer.parent, base.chainId);
    const seen = await cs.cli(['run', '--rm', 'base-changed', 'sh', '-c', 'cat /new.txt /etc/passwd; test -e /etc/group || echo gone']);
    assert.equal(seen.stdout, 'helloabcgone\n');
    // The layer is in use by nothing but names; the container still uses base, which cannot go.
    const rm = await cs.cli(['layer', 'rm', 'base']);
    assert.equal(rm.status, 4);
    assert.match(rm.stderr, /error\[LAYER_IN_USE\]/);
  });

  test('commit of a running container pauses it for the copy and resumes it', async () => {
    const d = await cs.cli(['run', '-d', '--name', 'live', 'base', 'sh', '-c', 'echo live > /live.txt; sleep 30']);
    assert.equal(d.status, 0, d.stderr);
    let diff = '';
    for (let i = 0; i < 50 && !diff.includes('/live.txt'); i++) {
      diff = (await cs.cli(['container', 'diff', 'live'])).stdout;
      if (!diff.includes('/live.txt')) await new Promise((res) => setTimeout(res, 100));
    }
    const c = await cs.cli(['container', 'commit', 'live', 'live-snap']);
    assert.equal(c.status, 0, c.stderr);
    assert.equal((await cs.inspect('live')).state, 'running');
    assert.equal((await cs.cli(['run', '--rm', 'live-snap', 'cat', '/live.txt'])).stdout, 'live\n');
    assert.equal((await cs.cli(['container', 'rm', '-f', 'live'])).status, 0);
  });
});
