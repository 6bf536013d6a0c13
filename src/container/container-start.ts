/**
 * Starting a container: attached (stdio passed through, signals forwarded, the exit status
 * returned: `run`, `start -a`) or detached (a monitor keeps the runtime in the foreground and
 * records the exit status: `run -d`, `start`).
 */
import * as fs from 'node:fs';
import type { StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { markEnded, markRunning, setPid, type ContainerRow } from '../db/container-queries.js';
import { ShibafuError } from '../errors.js';
import { lookupCommand } from '../runtime/exec-lookup.js';
import { signalSession, type ChildHandle } from '../sys/child-process.js';
import { runOutcome, runtimeFailureStatus, runtimeLogError, type OciRuntime, type RunOutcome } from '../runtime/oci-runtime.js';
import type { OciSpec } from '../runtime/runtime-spec.js';
import type { StoreContext } from '../store/store-context.js';
import { containerSpec, readBundle, writeBundle } from './container-bundle.js';
import { parseStoredConfig } from './container-config.js';
import type { ContainerContext } from './container-context.js';
import { tryLockContainer, type ContainerLock } from './container-lock.js';
import { isContainerMounted, mountContainer } from './container-mount.js';
import { readPidFile, reconcile } from './container-state.js';

export interface AttachOptions {
  /** The container's stdin, stdout, stderr: fds handed over, 'ignore', or 'pipe' (then `pipes`). */
  readonly stdio: StdioOptions;
  /** Streams for the entries of `stdio` that are 'pipe' (tests calling the CLI in process). */
  readonly pipes?: { stdin?: Readable; stdout?: Writable; stderr?: Writable };
  /**
   * Called once the runtime runs, with a function that forwards a signal to the container; returns
   * the function that stops forwarding. (The runtime is in its own session, so each signal sent to
   * shibafu reaches the container exactly once.)
   */
  readonly forwardSignals?: (forward: (sig: NodeJS.Signals) => void) => () => void;
  /** Checked just before the runtime starts: an interrupt during create starts nothing. */
  readonly signal?: AbortSignal;
}

export interface AttachedResult {
  readonly outcome: RunOutcome;
  readonly row: ContainerRow;
}

/**
 * Commits of a run's state (running, pid, ended) skip the WAL fsync: no process survives a reboot,
 * and a lost commit is reconciled on the next read (a `running` row without an owner, an exit
 * file or a runtime state reads as ended). The row and directory of a container stay durable.
 */
export const RUN_STATE = { durable: false } as const;

interface Prepared {
  readonly lock: ContainerLock;
  readonly runtime: OciRuntime;
  readonly started: string;
}

/**
 * Runs the container in the foreground and waits for it. Resolves with how it ended (the
 * container's status, or the runtime's failure mapped to 125/126/127).
 *
 * @example
 * const { outcome } = await startAttached(cc, row, { stdio: [0, 1, 2] });
 */
export async function startAttached(cc: ContainerContext, row: ContainerRow, options: AttachOptions): Promise<AttachedResult> {
  const ctx = cc.store;
  const p = await prepareStart(cc, row, options.signal);
  try {
    const child = await endOnFailure(ctx, row, p, p.runtime.run({ ...runtimeFiles(ctx, row), stdio: options.stdio }));
    connectPipes(child, options.pipes);
    const stopForwarding = options.forwardSignals?.((sig) => child.signal(sig)) ?? (() => {});
    let exit;
    try {
      exit = await child.exited;
    } finally {
      stopForwarding();
    }
    const outcome = runOutcome(exit, exit.code === 0 ? '' : readText(ctx.layout.containerRuntimeLog(row.id)));
    // A runtime killed by a signal leaves its state behind; a clean exit removed it already.
    if (exit.code === null) await p.runtime.delete(row.id, { force: true }).catch(() => {});
    const finished = ctx.now();
    ctx.db.immediate(() => markEnded(ctx.db, row.id, { started: p.started, finished, exitStatus: outcome.status }), RUN_STATE);
    return { outcome, row: { ...row, state: 'exited', started: p.started, finished, exitStatus: outcome.status, pid: null } };
  } finally {
    p.lock.release();
  }
}

/** How long `start` (detached) waits for the runtime to start the process; podman waits 240 s. */
export const START_TIMEOUT_MS = 60_000;

/** One look while a detached start waits: go on waiting, or how the wait ended. */
export type StartWaitStep = 'wait' | 'started' | 'ended' | 'timed-out';

/**
 * The wait's decision, pure. The pid file means started (even if the command has ended since:
 * it did run); the monitor gone without one means the runtime failed or the command ended at
 * once (the runtime's log tells which); past the timeout the start has failed.
 *
 * @example
 * startWaitStep({ pidFile: false, monitorEnded: false, waitedMs: 61_000, timeoutMs: 60_000 }) // 'timed-out'
 */
export function startWaitStep(s: { pidFile: boolean; monitorEnded: boolean; waitedMs: number; timeoutMs: number }): StartWaitStep {
  if (s.pidFile) return 'started';
  if (s.monitorEnded) return 'ended';
  return s.waitedMs >= s.timeoutMs ? 'timed-out' : 'wait';
}

export interface DetachedOptions {
  /** A command line the monitor runs once the container has ended (`run --rm -d`'s `rm`). */
  readonly afterExit?: readonly string[];
  /** Default START_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

/**
 * Starts the container detached and returns once it runs (or has already ended). A runtime
 * failure is thrown (RUNTIME_FAILED, COMMAND_NOT_FOUND, ...). A runtime that has not started
 * the process within the timeout fails the start as podman does (it deletes the container from
 * the runtime when conmon does not report a pid): the runtime and anything it started are killed
 * and forgotten, the run recorded as ended with 125, and RUNTIME_FAILED thrown. A start either
 * returns a running container or fails with nothing left running, never both.
 *
 * @example
 * const row = await startDetached(cc, row);
 */
export async function startDetached(cc: ContainerContext, row: ContainerRow, options: DetachedOptions = {}): Promise<ContainerRow> {
  const ctx = cc.store;
  const p = await prepareStart(cc, row, undefined);
  try {
    const monitor = await endOnFailure(ctx, row, p, p.runtime.runMonitored({
      ...runtimeFiles(ctx, row),
      outputFile: ctx.layout.containerLog(row.id),
      exitFile: ctx.layout.containerExitFile(row.id),
      holdFd: p.lock.fd,
      ...(options.afterExit !== undefined ? { afterExit: options.afterExit } : {}),
    }));
    let monitorDone = false;
    void monitor.exited.then(() => { monitorDone = true; });
    // The pid file appears once the runtime has started the process.
    const timeoutMs = options.timeoutMs ?? START_TIMEOUT_MS;
    for (let waited = 0; ; waited += 5) {
      const step = startWaitStep({ pidFile: readPidFile(ctx, row.id) !== null, monitorEnded: monitorDone, waitedMs: waited, timeoutMs });
      if (step === 'timed-out') throw await abandonStart(cc, row, p, monitor, timeoutMs);
      if (step !== 'wait') break;
      await sleep(5);
    }
    monitor.unref();
    const pid = readPidFile(ctx, row.id);
    if (pid !== null) ctx.db.immediate(() => setPid(ctx.db, row.id, pid), RUN_STATE);
    const error = pid === null ? runtimeLogError(readText(ctx.layout.containerRuntimeLog(row.id))) : null;
    if (error !== null) {
      ctx.db.immediate(() => markEnded(ctx.db, row.id, { started: p.started, finished: ctx.now(), exitStatus: runtimeFailureStatus(error) }), RUN_STATE);
      throw runtimeFailure(row, error);
    }
  } finally {
    p.lock.release();
  }
  return reconcile(cc, { ...row, state: 'running', started: p.started, finished: null, exitStatus: null, pid: null });
}

/**
 * A start that timed out: kill the monitor's whole session (the runtime itself may be what hangs,
 * and a lone SIGKILL to the monitor's sh would leave it running), then make the runtime forget
 * the container: `delete --force` kills what it created, which runc's init put in a session of
 * its own. Records the end and returns the error to throw.
 */
async function abandonStart(cc: ContainerContext, row: ContainerRow, p: Prepared, monitor: ChildHandle, timeoutMs: number): Promise<ShibafuError> {
  const ctx = cc.store;
  signalSession(monitor.pid, 'SIGKILL');
  await Promise.race([monitor.exited, sleep(5_000, undefined, { ref: false })]);
  await p.runtime.delete(row.id, { force: true }).catch(() => {});
  ctx.db.immediate(() => markEnded(ctx.db, row.id, { started: p.started, finished: ctx.now(), exitStatus: 125 }), RUN_STATE);
  return new ShibafuError('RUNTIME_FAILED', `Cannot start container "${row.name}": the runtime did not start it within ${timeoutMs / 1000} s; it was killed and nothing of it runs`, {
    hint: `The runtime's log: shibafu container inspect ${row.name}. The container can be started again: shibafu container start ${row.name}`,
    details: { timedOut: true, timeoutMs },
  });
}

/**
 * Everything before the runtime runs: the state check and the lock, the mount (again, if it
 * vanished), the bundle, the command's existence (127/126 without asking the runtime), a clean
 * slate of the per-run files, and the `running` record.
 */
async function prepareStart(cc: ContainerContext, row: ContainerRow, signal: AbortSignal | undefined): Promise<Prepared> {
  const ctx = cc.store;
  const current = await reconcile(cc, row);
  const lock = current.state === 'running' ? null : tryLockContainer(ctx, row.id);
  if (lock === null) {
    throw new ShibafuError('CONTAINER_STATE', `Cannot start container "${row.name}": it is running`, {
      hint: `Stop it first (shibafu container stop ${row.name}), or see its output: shibafu container logs ${row.name}`,
    });
  }
  try {
    if (lock.fd < 0) throw new ShibafuError('CONTAINER_NOT_FOUND', `Cannot start container "${row.name}": it was removed meanwhile`);
    const config = parseStoredConfig(row.config);
    if (!isContainerMounted(ctx, row)) mountContainer(ctx, row, { volatile: config.autoRemove });
    let spec = readBundle(ctx.layout, row.id);
    if (spec === null) {
      spec = containerSpec(ctx.layout, row.id, config);
      writeBundle(ctx.layout, row.id, spec);
    }
    checkCommand(ctx, row, spec);
    for (const file of [ctx.layout.containerPidFile(row.id), ctx.layout.containerExitFile(row.id), ctx.layout.containerRuntimeLog(row.id)]) {
      fs.rmSync(file, { force: true });
    }
    signal?.throwIfAborted();
    const started = ctx.now();
    ctx.db.immediate(() => markRunning(ctx.db, row.id, started), RUN_STATE);
    return { lock, runtime: cc.runtime(config.runtime), started };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** 127 / 126 before anything starts, with shibafu's own message (exec.LookPath's rules). */
function checkCommand(ctx: StoreContext, row: ContainerRow, spec: OciSpec): void {
  const command = spec.process.args[0] ?? '';
  const pathEnv = spec.process.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
  const found = lookupCommand({
    root: ctx.layout.containerMerged(row.id), command, pathEnv, cwd: spec.process.cwd,
    mountPoints: spec.mounts.map((m) => m.destination),
  });
  if (found.kind === 'not-found') {
    throw new ShibafuError('COMMAND_NOT_FOUND', `Cannot run "${command}" in container "${row.name}": ${command.includes('/') ? 'no such file' : 'executable file not found in $PATH'}`, {
      hint: command.includes('/') ? 'Check the path against the stack: shibafu layer list' : `The container's PATH is ${pathEnv}; give a full path, or set PATH with -e.`,
    });
  }
  if (found.kind === 'not-executable') {
    throw new ShibafuError('COMMAND_NOT_EXECUTABLE', `Cannot run "${command}" in container "${row.name}": ${found.path} is not executable`, {
      hint: 'Make it executable in a layer (chmod +x), or run it through an interpreter: sh FILE.',
    });
  }
}

/** A runtime that cannot even start (no such program): the run ends at once with 125. */
async function endOnFailure<T>(ctx: StoreContext, row: ContainerRow, p: Prepared, spawned: Promise<T>): Promise<T> {
  try {
    return await spawned;
  } catch (err) {
    ctx.db.immediate(() => markEnded(ctx.db, row.id, { started: p.started, finished: ctx.now(), exitStatus: 125 }), RUN_STATE);
    throw err;
  }
}

function runtimeFiles(ctx: StoreContext, row: ContainerRow): { containerId: string; bundle: string; pidFile: string; logFile: string } {
  return {
    containerId: row.id,
    bundle: ctx.layout.containerBundle(row.id),
    pidFile: ctx.layout.containerPidFile(row.id),
    logFile: ctx.layout.containerRuntimeLog(row.id),
  };
}

function runtimeFailure(row: ContainerRow, message: string): ShibafuError {
  const status = runtimeFailureStatus(message);
  const code = status === 127 ? 'COMMAND_NOT_FOUND' : status === 126 ? 'COMMAND_NOT_EXECUTABLE' : 'RUNTIME_FAILED';
  return new ShibafuError(code, `Cannot start container "${row.name}": ${message}`, { hint: `The runtime's log: shibafu container inspect ${row.name}` });
}

function connectPipes(child: ChildHandle, pipes: AttachOptions['pipes']): void {
  if (pipes === undefined) return;
  if (child.stdin !== null) {
    if (pipes.stdin !== undefined) pipes.stdin.pipe(child.stdin);
    else child.stdin.end();
    child.stdin.on('error', () => {});
  }
  if (child.stdout !== null && pipes.stdout !== undefined) child.stdout.pipe(pipes.stdout, { end: false });
  if (child.stderr !== null && pipes.stderr !== undefined) child.stderr.pipe(pipes.stderr, { end: false });
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
