/**
 * The cgroup namespace of the runtime spec, run by real runc (root). This host may be cgroup v1
 * or hybrid, where shibafu keeps the host's namespace as podman does; so the spec the builder
 * gives a v2 host is put into a created container's bundle by hand, proving runc accepts it and
 * the container sees its own cgroup as "/". `run` itself must work whatever the host.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRuntimeSpec, type OciSpec } from '../src/runtime/runtime-spec.js';
import { isCgroup2Unified } from '../src/sys/cgroup-mode.js';
import { containerSkip, containerStore } from './container-harness.js';

describe('cgroup namespace', { skip: containerSkip }, () => {
  const cs = containerStore();

  test('run works on this host; the spec has a cgroup namespace exactly on a cgroup v2 host', async () => {
    const r = await cs.cli(['run', '--rm', '--layers', 'base', 'true']);
    assert.equal(r.status, 0, r.stderr);
    const created = await cs.cli(['container', 'create', '--layers', 'base', 'true']);
    assert.equal(created.status, 0, created.stderr);
    const spec = JSON.parse(readFileSync(join((await cs.inspect(created.stdout.trim())).paths.bundle, 'config.json'), 'utf8')) as OciSpec;
    assert.equal(spec.linux.namespaces.some((n) => n.type === 'cgroup'), isCgroup2Unified());
  });

  test('the v2 spec (a private cgroup namespace, cgroup mounted read-only) runs under runc', async () => {
    const created = await cs.cli(['container', 'create', '--name', 'cgns', '--layers', 'base', 'sh', '-c', 'cat /proc/self/cgroup; grep -E " - cgroup2? " /proc/self/mountinfo']);
    assert.equal(created.status, 0, created.stderr);
    const file = join((await cs.inspect('cgns')).paths.bundle, 'config.json');
    const spec = JSON.parse(readFileSync(file, 'utf8')) as OciSpec;
    const v2 = buildRuntimeSpec({ rootPath: spec.root.path, args: spec.process.args, env: spec.process.env, hostname: spec.hostname, cgroupsPath: spec.linux.cgroupsPath, cgroupNamespace: true });
    writeFileSync(file, JSON.stringify({ ...spec, mounts: v2.mounts, linux: { ...spec.linux, namespaces: v2.linux.namespaces } }));
    const r = await cs.cli(['container', 'start', '-a', 'cgns']);
    assert.equal(r.status, 0, r.stderr);
    const cgroups = r.stdout.split('\n').filter((l) => /^\d+:/.test(l));
    assert.ok(cgroups.length > 0, r.stdout);
    // In its own namespace the container's cgroup is the root of every hierarchy.
    for (const line of cgroups) assert.match(line, /:\/$/, line);
    // runc mounts cgroup2 there on a v2 host, a tmpfs with each v1 hierarchy below on others.
    const mounts = r.stdout.split('\n').filter((l) => / - cgroup2? /.test(l));
    assert.ok(mounts.length > 0, r.stdout);
    for (const line of mounts) {
      const [, , , , point, options] = line.split(' ');
      assert.ok(point?.startsWith('/sys/fs/cgroup'), line);
      assert.ok(options?.split(',').includes('ro'), `read-only: ${line}`);
    }
  });
});
