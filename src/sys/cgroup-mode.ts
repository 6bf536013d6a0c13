/**
 * Which cgroup hierarchy the host runs, decided as runc and podman decide it: /sys/fs/cgroup is
 * the unified (v2) hierarchy exactly when it is a cgroup2 file system (statfs f_type
 * CGROUP2_SUPER_MAGIC). A hybrid host (v1 controllers, with cgroup2 at /sys/fs/cgroup/unified
 * only) or a legacy v1 host has a tmpfs there.
 */
import { statfsSync } from 'node:fs';

/** include/uapi/linux/magic.h */
const CGROUP2_SUPER_MAGIC = 0x63677270;

let unified: boolean | undefined;

/**
 * True on a cgroup v2 (unified) host; probed once per process. False when /sys/fs/cgroup cannot
 * be read at all (no cgroups mounted: a private cgroup namespace would not help there either).
 *
 * @example
 * buildRuntimeSpec({ ...options, cgroupNamespace: isCgroup2Unified() })
 */
export function isCgroup2Unified(): boolean {
  if (unified === undefined) {
    try {
      unified = statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC;
    } catch {
      unified = false;
    }
  }
  return unified;
}
