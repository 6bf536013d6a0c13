/**
 * The OCI runtime configuration (runtime-spec config.md, config-linux.md) shibafu writes for a
 * container: a pure function of the container's settings, as umoci converts an image config to
 * a runtime spec. The defaults are podman's (pkg/specgen, pkg/config defaults), so a container
 * behaves here as it does under `podman run`, minus seccomp (not applied; see docs).
 */

/** Capabilities podman grants by default (containers.conf `default_capabilities`). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT',
];

/**
 * Paths hidden from the container (podman's list): kernel memory, keys, timers, firmware, and the
 * RAPL energy counters of /sys/devices/virtual/powercap, which leak secrets by power side channel
 * (CVE-2020-8694, "Platypus"; podman and docker mask them).
 */
export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/fs/selinux', '/sys/dev/block', '/sys/devices/virtual/powercap',
];

/** Paths the container may read but not write (podman's list): host-wide kernel knobs. */
export const READONLY_PATHS: readonly string[] = [
  '/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

/** The PATH a container gets when it sets none (podman's and docker's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Directories a `--read-only` container still gets writable, as tmpfs (podman's --read-only-tmpfs). */
export const READ_ONLY_TMPFS: readonly string[] = ['/tmp', '/var/tmp', '/run'];

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string }[];
    cgroupsPath: string;
    resources: { devices: { allow: boolean; access: string }[] };
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

/** A host directory bind-mounted into the container (`-v HOSTDIR:DIR[:ro]`). */
export interface VolumeSpec {
  readonly source: string;
  readonly destination: string;
  readonly readonly: boolean;
}

export interface RuntimeSpecOptions {
  /** The container's root file system (the merged overlay), absolute. */
  readonly rootPath: string;
  readonly args: readonly string[];
  /** The final environment, `K=V` each (see `containerEnv`). */
  readonly env: readonly string[];
  /** Absolute working directory inside the container; default "/". */
  readonly cwd?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly additionalGids?: readonly number[];
  readonly terminal?: boolean;
  readonly hostname: string;
  readonly volumes?: readonly VolumeSpec[];
  readonly readOnly?: boolean;
  /** `none` (default): a network namespace with only loopback; `host`: the host's network. */
  readonly network?: 'none' | 'host';
  /** Relative paths nest under the runtime's own cgroup (runc's cgroupfs driver). */
  readonly cgroupsPath: string;
  /** Podman's default is false: setuid binaries (su, ping) keep working. */
  readonly noNewPrivileges?: boolean;
  /**
   * A private cgroup namespace, with the container's own cgroup mounted read-only at
   * /sys/fs/cgroup: what podman does on a cgroup v2 (unified) host (`--cgroupns=private`). On a
   * v1 or hybrid host podman keeps the host's namespace, and so should the caller, which detects
   * the host (`isCgroup2Unified` in src/sys). Default false.
   */
  readonly cgroupNamespace?: boolean;
}

/**
 * Builds the runtime config. Pure: the same options give the same object.
 * No `rlimits`: the container inherits the runtime's limits (raising them is not always allowed).
 *
 * @example
 * buildRuntimeSpec({ rootPath: '/var/lib/shibafu/containers/ab12/merged', args: ['true'],
 *   env: ['PATH=/bin'], hostname: 'ab12', cgroupsPath: 'shibafu/ab12' })
 */
export function buildRuntimeSpec(options: RuntimeSpecOptions): OciSpec {
  const uid = options.uid ?? 0;
  // Podman gives a non-root user no effective or permitted capabilities; the bounding set stays,
  // so setuid binaries inside can still gain them (unless noNewPrivileges).
  const granted = uid === 0 ? [...DEFAULT_CAPABILITIES] : [];
  const network = options.network ?? 'none';
  const cgroupns = options.cgroupNamespace === true;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: options.terminal === true,
      user: {
        uid,
        gid: options.gid ?? 0,
        ...(options.additionalGids !== undefined && options.additionalGids.length > 0 ? { additionalGids: [...options.additionalGids] } : {}),
      },
      args: [...options.args],
      env: [...options.env],
      cwd: options.cwd ?? '/',
      capabilities: { bounding: [...DEFAULT_CAPABILITIES], effective: granted, permitted: [...granted], inheritable: [], ambient: [] },
      noNewPrivileges: options.noNewPrivileges === true,
    },
    root: { path: options.rootPath, readonly: options.readOnly === true },
    hostname: options.hostname,
    mounts: defaultMounts(network, options.readOnly === true, cgroupns).concat((options.volumes ?? []).map(volumeMount)),
    linux: {
      namespaces: ['pid', 'mount', 'ipc', 'uts', ...(network === 'host' ? [] : ['network']), ...(cgroupns ? ['cgroup'] : [])].map((type) => ({ type })),
      cgroupsPath: options.cgroupsPath,
      // Deny every device, then runc adds its default allow list (null, zero, full, tty, random, urandom, pts).
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
}

function defaultMounts(network: 'none' | 'host', readOnly: boolean, cgroupns: boolean): OciMount[] {
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // sysfs can only be mounted from inside a network namespace the container owns; with the host's
    // network podman bind-mounts the host's /sys read-only instead, and so do we.
    network === 'host'
      ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro', 'rprivate'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  // In its own cgroup namespace the container sees its cgroup as the root of a cgroup2 mount
  // (runc mounts it after joining the namespace); read-only as podman mounts it unprivileged.
  if (cgroupns) mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['rprivate', 'nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
  if (readOnly) {
    for (const dir of READ_ONLY_TMPFS) {
      mounts.push({ destination: dir, type: 'tmpfs', source: 'tmpfs', options: ['rw', 'rprivate', 'nosuid', 'nodev', 'mode=1777'] });
    }
  }
  return mounts;
}

function volumeMount(v: VolumeSpec): OciMount {
  // rbind: submounts of the host dir come along; rprivate: nothing propagates back to the host.
  return { destination: v.destination, type: 'bind', source: v.source, options: ['rbind', v.readonly ? 'ro' : 'rw', 'rprivate'] };
}

export interface ContainerEnvOptions {
  /** `K=V` entries the user gave (-e, --env-file), later ones winning. */
  readonly user: readonly string[];
  readonly hostname: string;
  readonly home: string;
  readonly terminal: boolean;
}

/**
 * The container's environment: PATH, HOSTNAME, HOME (and TERM with a terminal) as podman sets
 * them, then the user's entries, which override them; one entry per name, in first-seen order.
 *
 * @example
 * containerEnv({ user: ['A=1'], hostname: 'h', home: '/root', terminal: false })
 * // ['PATH=/usr/local/sbin:...', 'HOSTNAME=h', 'HOME=/root', 'container=shibafu', 'A=1']
 */
export function containerEnv(options: ContainerEnvOptions): string[] {
  const env = new Map<string, string>([
    ['PATH', DEFAULT_PATH],
    ['HOSTNAME', options.hostname],
    ['HOME', options.home],
    // systemd and others read `container` to know they run in one (podman sets container=podman).
    ['container', 'shibafu'],
  ]);
  if (options.terminal) env.set('TERM', 'xterm');
  for (const entry of options.user) {
    const eq = entry.indexOf('=');
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1));
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}
