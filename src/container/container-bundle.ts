/**
 * The container's OCI bundle: `bundle/config.json`, derived from its settings and from its own
 * /etc/passwd and /etc/group (read inside the merged root, never on the host).
 */
import * as fs from 'node:fs';
import { posix } from 'node:path';
import type { ContainerId } from '../db/container-queries.js';
import { resolveUser } from '../runtime/container-user.js';
import { resolveInRoot } from '../runtime/exec-lookup.js';
import { buildRuntimeSpec, containerEnv, type OciSpec } from '../runtime/runtime-spec.js';
import type { StoreLayout } from '../store/layout.js';
import { isCgroup2Unified } from '../sys/cgroup-mode.js';
import type { ContainerConfig } from './container-config.js';

/**
 * The runtime spec of a container whose stack is mounted at its merged dir.
 *
 * @example
 * const spec = containerSpec(layout, id, config);
 */
export function containerSpec(layout: StoreLayout, containerId: ContainerId, config: ContainerConfig): OciSpec {
  const rootPath = layout.containerMerged(containerId);
  const user = resolveUser(config.user, { passwd: readInRoot(rootPath, '/etc/passwd'), group: readInRoot(rootPath, '/etc/group') });
  const hostname = config.hostname ?? containerId.slice(0, 12);
  return buildRuntimeSpec({
    rootPath,
    args: config.args,
    env: containerEnv({ user: config.env, hostname, home: user.home, terminal: config.tty }),
    cwd: config.workdir,
    uid: user.uid,
    gid: user.gid,
    additionalGids: user.additionalGids,
    terminal: config.tty,
    hostname,
    volumes: config.volumes,
    readOnly: config.readOnly,
    network: config.network,
    // Relative: runc nests it under its own cgroup in each hierarchy, so limits set on shibafu's
    // caller (a CI job's cgroup) still apply to the container.
    cgroupsPath: `shibafu/${containerId}`,
    noNewPrivileges: config.noNewPrivileges,
    // Podman's default: a private cgroup namespace on cgroup v2 hosts, the host's on v1/hybrid
    // ones (where a private one would show a confusing mix of v1 hierarchies).
    cgroupNamespace: isCgroup2Unified(),
  });
}

/**
 * Writes config.json atomically (a torn file would make the runtime fail obscurely).
 *
 * @example
 * writeBundle(layout, id, containerSpec(layout, id, config));
 */
export function writeBundle(layout: StoreLayout, containerId: ContainerId, spec: OciSpec): void {
  const file = layout.containerConfigJson(containerId);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Reads the bundle back (for `start` and the executable check). */
export function readBundle(layout: StoreLayout, containerId: ContainerId): OciSpec | null {
  try {
    return JSON.parse(fs.readFileSync(layout.containerConfigJson(containerId), 'utf8')) as OciSpec;
  } catch {
    return null;
  }
}

/** A file of the container's root, symlinks resolved inside it; null when absent. */
function readInRoot(root: string, path: string): string | null {
  const resolved = resolveInRoot(root, path, []);
  if (resolved === null || resolved === 'unknown') return null;
  try {
    return fs.readFileSync(posix.join(root, resolved), 'utf8');
  } catch {
    return null;
  }
}
