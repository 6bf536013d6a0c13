import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRuntimeSpec, containerEnv, DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS } from './runtime-spec.js';

const base = { rootPath: '/s/containers/abc/merged', args: ['sh', '-c', 'true'], env: ['PATH=/bin'], hostname: 'abc', cgroupsPath: 'shibafu/abc' };

test('buildRuntimeSpec: root, process, hostname and cgroups path as given; no rlimits', () => {
  const spec = buildRuntimeSpec(base);
  assert.equal(spec.ociVersion, '1.0.2');
  assert.deepEqual(spec.root, { path: '/s/containers/abc/merged', readonly: false });
  assert.deepEqual(spec.process.args, ['sh', '-c', 'true']);
  assert.deepEqual(spec.process.env, ['PATH=/bin']);
  assert.deepEqual(spec.process.user, { uid: 0, gid: 0 });
  assert.equal(spec.process.cwd, '/');
  assert.equal(spec.process.terminal, false);
  assert.equal(spec.process.noNewPrivileges, false);
  assert.equal('rlimits' in spec.process, false, 'rlimits are inherited, never raised');
  assert.equal(spec.hostname, 'abc');
  assert.equal(spec.linux.cgroupsPath, 'shibafu/abc');
});

test('buildRuntimeSpec: podman\'s capabilities for root, none effective for another user', () => {
  const root = buildRuntimeSpec(base).process.capabilities;
  assert.deepEqual(root.bounding, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(root.effective, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(root.permitted, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(root.inheritable, []);
  assert.deepEqual(root.ambient, []);
  assert.equal(DEFAULT_CAPABILITIES.length, 11);
  const user = buildRuntimeSpec({ ...base, uid: 1000, gid: 1000, additionalGids: [50] });
  assert.deepEqual(user.process.user, { uid: 1000, gid: 1000, additionalGids: [50] });
  assert.deepEqual(user.process.capabilities.effective, []);
  assert.deepEqual(user.process.capabilities.permitted, []);
  assert.deepEqual(user.process.capabilities.bounding, [...DEFAULT_CAPABILITIES]);
});

test('buildRuntimeSpec: namespaces, with the network one unless --network host', () => {
  assert.deepEqual(buildRuntimeSpec(base).linux.namespaces.map((n) => n.type), ['pid', 'mount', 'ipc', 'uts', 'network']);
  assert.deepEqual(buildRuntimeSpec({ ...base, network: 'host' }).linux.namespaces.map((n) => n.type), ['pid', 'mount', 'ipc', 'uts']);
});

test('buildRuntimeSpec: a cgroup namespace and a read-only cgroup mount only when asked (cgroup v2 hosts)', () => {
  for (const spec of [buildRuntimeSpec(base), buildRuntimeSpec({ ...base, cgroupNamespace: false })]) {
    assert.equal(spec.linux.namespaces.some((n) => n.type === 'cgroup'), false);
    assert.equal(spec.mounts.some((m) => m.destination === '/sys/fs/cgroup'), false);
  }
  for (const network of ['none', 'host'] as const) {
    const v2 = buildRuntimeSpec({ ...base, network, cgroupNamespace: true });
    assert.deepEqual(v2.linux.namespaces.map((n) => n.type), ['pid', 'mount', 'ipc', 'uts', ...(network === 'none' ? ['network'] : []), 'cgroup']);
    const sys = v2.mounts.findIndex((m) => m.destination === '/sys');
    const cgroup = v2.mounts.findIndex((m) => m.destination === '/sys/fs/cgroup');
    assert.ok(cgroup > sys, 'mounted on top of /sys');
    assert.deepEqual(v2.mounts[cgroup], { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['rprivate', 'nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
  }
  const vol = buildRuntimeSpec({ ...base, cgroupNamespace: true, volumes: [{ source: '/srv/a', destination: '/a', readonly: true }] });
  assert.equal(vol.mounts.at(-1)?.destination, '/a', 'volumes still last');
});

test('buildRuntimeSpec: the default mounts; /sys read-only (a bind of the host\'s with --network host)', () => {
  const spec = buildRuntimeSpec(base);
  assert.deepEqual(spec.mounts.map((m) => `${m.destination}:${m.type}`), ['/proc:proc', '/dev:tmpfs', '/dev/pts:devpts', '/dev/shm:tmpfs', '/dev/mqueue:mqueue', '/sys:sysfs']);
  assert.ok(spec.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'));
  const host = buildRuntimeSpec({ ...base, network: 'host' }).mounts.find((m) => m.destination === '/sys');
  assert.deepEqual(host, { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro', 'rprivate'] });
});

test('buildRuntimeSpec: volumes as rbind mounts, read-only with ro; --read-only adds tmpfs dirs', () => {
  const spec = buildRuntimeSpec({ ...base, readOnly: true, volumes: [{ source: '/srv/a', destination: '/a', readonly: false }, { source: '/srv/b', destination: '/b', readonly: true }] });
  assert.equal(spec.root.readonly, true);
  const byDest = new Map(spec.mounts.map((m) => [m.destination, m]));
  assert.deepEqual(byDest.get('/a'), { destination: '/a', type: 'bind', source: '/srv/a', options: ['rbind', 'rw', 'rprivate'] });
  assert.deepEqual(byDest.get('/b'), { destination: '/b', type: 'bind', source: '/srv/b', options: ['rbind', 'ro', 'rprivate'] });
  for (const dir of ['/tmp', '/var/tmp', '/run']) assert.equal(byDest.get(dir)?.type, 'tmpfs');
  assert.equal(spec.mounts.at(-1)?.destination, '/b', 'volumes last: they may cover a default mount point');
});

test('buildRuntimeSpec: podman\'s masked and read-only paths; devices denied (runc adds its defaults)', () => {
  const spec = buildRuntimeSpec(base);
  assert.deepEqual(spec.linux.maskedPaths, ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/fs/selinux', '/sys/dev/block', '/sys/devices/virtual/powercap']);
  assert.deepEqual(spec.linux.readonlyPaths, ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  assert.deepEqual(spec.linux.maskedPaths, [...MASKED_PATHS]);
  assert.deepEqual(spec.linux.readonlyPaths, [...READONLY_PATHS]);
  assert.deepEqual(spec.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
});

test('buildRuntimeSpec is pure: equal options, equal specs; the options are not shared', () => {
  const args = ['echo', 'x'];
  const a = buildRuntimeSpec({ ...base, args });
  args.push('mutated');
  assert.deepEqual(a, buildRuntimeSpec({ ...base, args: ['echo', 'x'] }));
});

test('containerEnv: defaults first, the user\'s entries override them, TERM only with a terminal', () => {
  assert.deepEqual(containerEnv({ user: [], hostname: 'h', home: '/root', terminal: false }), [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h', 'HOME=/root', 'container=shibafu']);
  assert.deepEqual(containerEnv({ user: ['PATH=/bin', 'A=1', 'A=2', 'EMPTY='], hostname: 'h', home: '/', terminal: true }),
    ['PATH=/bin', 'HOSTNAME=h', 'HOME=/', 'container=shibafu', 'TERM=xterm', 'A=2', 'EMPTY=']);
});
