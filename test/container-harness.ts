/**
 * Shared set-up of the container tests: a temp store with the busybox `base` layer, and the CLI
 * run against it (real runc, real overlay mounts, as root). Each test file gets its own store.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before } from 'node:test';
import { makeBusyboxTar } from './fixtures/rootfs-busybox.js';
import { runCli, startCli, VIA_SERVICE, type CliOptions, type CliResult } from './helpers/cli.js';
import { makeTempStore, type TempStore } from './helpers/temp-store.js';

/** Why the container tests cannot run here, or false. Root and runc are all they need. */
export const containerSkip: string | false = (() => {
  if (process.getuid?.() !== 0) return 'needs root (overlay mounts, runc)';
  try {
    execFileSync('runc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs runc (apt-get install runc)';
  }
  return false;
})();

export interface ContainerStore {
  readonly ts: TempStore;
  /** `shibafu --root STORE ARGS...` */
  cli(args: readonly string[], options?: CliOptions): Promise<CliResult>;
  /** The same, not waited for. */
  start(args: readonly string[], options?: CliOptions): ReturnType<typeof startCli>;
  /** `container inspect` of one container, parsed. */
  inspect(ref: string): Promise<InspectView>;
}

export interface InspectView {
  id: string;
  name: string;
  state: string;
  exitStatus: number | null;
  pid: number | null;
  mounted: boolean;
  paths: { dir: string; upper: string; merged: string; bundle: string; log: string };
}

/**
 * A temp store with `base` (busybox) created before the tests; cleaned (mounts included) after.
 * Call in a describe body.
 *
 * @example
 * const cs = containerStore(); test('...', async () => { const r = await cs.cli(['run', '--rm', 'base', 'true']); });
 */
export function containerStore(options: { skip?: string | false } = {}): ContainerStore {
  // A service must not outlive its store: stopped before anything else is cleaned.
  if (VIA_SERVICE) after(async () => { await cli(['service', 'stop']); });
  // Registered first so it runs before the temp store's own cleanup (unmount, rm): a failed test
  // must not leave containers running on a store that is being deleted.
  after(() => killContainersOf(ts.root));
  const ts = makeTempStore({ open: false });
  const cli = (args: readonly string[], o?: CliOptions): Promise<CliResult> => runCli(['--root', ts.root, ...args], o);
  before(async () => {
    if ((options.skip ?? containerSkip) !== false) return;
    const tar = join(ts.inputs, 'base.tar');
    makeBusyboxTar(ts.inputs, tar);
    const r = await cli(['layer', 'create', 'base', tar]);
    if (r.status !== 0) throw new Error(`cannot create the base layer: ${r.stderr}`);
    if (VIA_SERVICE) {
      const started = await cli(['service', 'start']);
      if (started.status !== 0) throw new Error(`cannot start the service: ${started.stderr}`);
    }
  });
  return {
    ts,
    cli,
    start: (args, o) => startCli(['--root', ts.root, ...args], o),
    async inspect(ref) {
      const r = await cli(['container', 'inspect', ref]);
      if (r.status !== 0) throw new Error(`inspect ${ref}: ${r.stderr}`);
      return (JSON.parse(r.stdout) as InspectView[])[0] as InspectView;
    },
  };
}

/** Kills and forgets every container the store's runtime still knows. */
function killContainersOf(root: string): void {
  const state = join(root, 'runtime');
  let ids: string[] = [];
  try {
    ids = readdirSync(state);
  } catch {
    return;
  }
  for (const id of ids) {
    try {
      execFileSync('runc', ['--root', state, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // Already gone.
    }
  }
}

/** Whether an overlay is mounted exactly at `path` (from /proc/self/mountinfo). */
export function isMounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === path);
}

/** Waits until `predicate` holds (polling), failing after `timeoutMs`. */
export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Waits until a spawned CLI has printed `text` on stdout. */
export function waitForOutput(child: ReturnType<typeof startCli>, text: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${text}" (got "${out}")`)), timeoutMs);
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
}

/** The parent pid of a process (from /proc/PID/stat). */
export function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}
