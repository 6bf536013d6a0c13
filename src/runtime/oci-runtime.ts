/**
 * The OCI runtime (runc, or any runtime with runc's command line: `--runtime PATH`) behind a narrow
 * port. shibafu gives the runtime its own state root under the store (`runc --root`), so its
 * containers never meet the host's, and a log file (`--log`, JSON lines), which is how a runtime
 * failure is told apart from the container's own exit status: runc has no error codes, only messages.
 */
import * as fs from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { StdioOptions } from 'node:child_process';
import { ShibafuError } from '../errors.js';
import { runCaptured, spawnChild, type ChildHandle, type ProcessExit } from '../sys/child-process.js';

/** The runtime's view of one container (`runc state`). */
export interface RuntimeState {
  readonly status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  readonly pid: number;
}

export interface RuntimeRunRequest {
  readonly containerId: string;
  readonly bundle: string;
  /** Where the runtime writes the container's host pid once it runs. */
  readonly pidFile: string;
  /** The runtime's own log (JSON lines), read back to classify a failure. */
  readonly logFile: string;
}

export interface ForegroundRequest extends RuntimeRunRequest {
  /**
   * The runtime's stdin, stdout, stderr. Without a terminal runc copies them to and from pipes of
   * the container (so their relative order is not kept); with one, it copies them to its pty.
   */
  readonly stdio: StdioOptions;
}

export interface MonitoredRequest extends RuntimeRunRequest {
  /** stdout and stderr of the container are appended here. */
  readonly outputFile: string;
  /** The monitor writes the container's exit status here when it ends. */
  readonly exitFile: string;
  /** A descriptor the monitor keeps open (and with it a lock) for the container's whole life. */
  readonly holdFd: number;
  /** A command line the monitor runs after writing the exit status (with the descriptor closed). */
  readonly afterExit?: readonly string[];
}

/** How a foreground run ended. */
export type RunOutcome =
  | { readonly kind: 'exited'; readonly status: number }
  /** The runtime failed before or while starting the command: 125, 126 or 127. */
  | { readonly kind: 'runtime-error'; readonly status: 125 | 126 | 127; readonly message: string };

/** The port: only what shibafu uses. A fake serves unit tests. */
export interface OciRuntime {
  readonly binary: string;
  /**
   * `runc run` in the foreground. The runtime forwards every signal it receives to the container
   * (runc's signal handler) and exits with the container's status (128+N for a signal).
   */
  run(req: ForegroundRequest): Promise<ChildHandle>;
  /**
   * Starts the container detached under a small monitor (`sh`, a few hundred KiB: podman's conmon
   * in one line) that keeps the runtime in the foreground and writes the exit status to a file.
   */
  runMonitored(req: MonitoredRequest): Promise<ChildHandle>;
  /** The container's state; null when the runtime does not know it (never started, or cleaned up). */
  state(containerId: string): Promise<RuntimeState | null>;
  /** Signals the container's init; false when it is not running. */
  kill(containerId: string, signal: NodeJS.Signals): Promise<boolean>;
  /** Forgets a container (`--force` kills it first). */
  delete(containerId: string, options: { force: boolean }): Promise<void>;
  /** Freezes every process of the container (cgroup freezer), for a consistent commit. */
  pause(containerId: string): Promise<void>;
  resume(containerId: string): Promise<void>;
}

/**
 * The runc-compatible runtime at `binary` with its state under `stateRoot`.
 *
 * @example
 * const runtime = ociRuntime({ binary: 'runc', stateRoot: layout.runtimeState });
 * const child = await runtime.run({ containerId, bundle, pidFile, logFile, stdio: [0, 1, 2] });
 */
export function ociRuntime(options: { binary: string; stateRoot: string }): OciRuntime {
  const { binary, stateRoot } = options;
  const global = (logFile?: string): string[] => ['--root', stateRoot, ...(logFile !== undefined ? ['--log', logFile, '--log-format', 'json'] : [])];
  const runArgs = (req: RuntimeRunRequest): string[] => [...global(req.logFile), 'run', '--bundle', req.bundle, '--pid-file', req.pidFile, req.containerId];
  return {
    binary,
    // A new session: a Ctrl-C on the terminal reaches shibafu, which forwards it once; were the
    // runtime in the terminal's process group it would get the signal twice.
    run: (req) => spawnChild(binary, runArgs(req), { stdio: req.stdio, newSession: true }),
    runMonitored: (req) => spawnChild('/bin/sh', ['-c', MONITOR_SCRIPT, 'shibafu-monitor', req.outputFile, req.exitFile, shellQuote(req.afterExit ?? []), binary, ...runArgs(req)], {
      stdio: ['ignore', 'ignore', 'ignore', req.holdFd],
      newSession: true,
    }),
    async state(containerId) {
      // runc keeps a container's state in <root>/<id>: no directory, no container, no process to spawn.
      if (!fs.existsSync(join(stateRoot, containerId))) return null;
      const r = await runCaptured(binary, [...global(), 'state', containerId], { timeoutMs: 30_000 });
      if (r.code !== 0) {
        if (!fs.existsSync(join(stateRoot, containerId))) return null;
        throw runtimeError(`query the state of container ${containerId}`, r.stderr);
      }
      return parseState(r.stdout);
    },
    async kill(containerId, signal) {
      if (!fs.existsSync(join(stateRoot, containerId))) return false;
      const r = await runCaptured(binary, [...global(), 'kill', containerId, signal.replace(/^SIG/, '')], { timeoutMs: 30_000 });
      return r.code === 0;
    },
    async pause(containerId) {
      const r = await runCaptured(binary, [...global(), 'pause', containerId], { timeoutMs: 30_000 });
      if (r.code !== 0) throw runtimeError(`pause container ${containerId}`, r.stderr);
    },
    async resume(containerId) {
      const r = await runCaptured(binary, [...global(), 'resume', containerId], { timeoutMs: 30_000 });
      if (r.code !== 0) throw runtimeError(`resume container ${containerId}`, r.stderr);
    },
    async delete(containerId, opts) {
      if (!fs.existsSync(join(stateRoot, containerId))) return;
      const r = await runCaptured(binary, [...global(), 'delete', ...(opts.force ? ['--force'] : []), containerId], { timeoutMs: 30_000 });
      if (r.code !== 0 && fs.existsSync(join(stateRoot, containerId))) throw runtimeError(`delete container ${containerId} from the runtime`, r.stderr);
    },
  };
}

/**
 * The monitor: `$1` output file, `$2` exit file, `$3` a command to run after (shell-quoted, may be
 * empty), then the runtime's command line. stdin is /dev/null; the descriptor on fd 3 stays open
 * until the exit status is written, which is what tells another shibafu process the container is
 * still owned; it is closed before the after-command, which may need the lock itself (`rm`).
 */
const MONITOR_SCRIPT = [
  'out="$1"; ex="$2"; after="$3"; shift 3',
  '"$@" </dev/null >>"$out" 2>&1',
  'echo $? >"$ex"',
  'exec 3>&-',
  '[ -z "$after" ] || eval "$after" </dev/null >/dev/null 2>&1',
].join('\n');

/**
 * Quotes a command line for sh (single quotes; a quote inside becomes '\'').
 *
 * @example
 * shellQuote(['echo', "it's"]) // "'echo' 'it'\\''s'"
 */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
}

function parseState(text: string): RuntimeState {
  const raw = JSON.parse(text) as { status?: string; pid?: number };
  const status = raw.status as RuntimeState['status'];
  return { status, pid: raw.pid ?? 0 };
}

function runtimeError(action: string, stderr: string): ShibafuError {
  return new ShibafuError('RUNTIME_FAILED', `Cannot ${action}: ${lastLine(stderr) ?? 'the runtime failed'}`);
}

function lastLine(text: string): string | undefined {
  return text.trim().split('\n').filter((l) => l !== '').pop();
}

/**
 * The last error the runtime logged (its `--log-format json` lines), or null when it logged none:
 * then the exit status is the container's own.
 *
 * @example
 * runtimeLogError('{"level":"error","msg":"runc run failed: ..."}\n') // 'runc run failed: ...'
 */
export function runtimeLogError(logText: string): string | null {
  let found: string | null = null;
  for (const line of logText.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && typeof entry.msg === 'string') found = entry.msg;
    } catch {
      // A torn last line of a killed runtime: nothing to learn from it.
    }
  }
  return found;
}

/**
 * Maps a runtime's exec failure to podman's statuses: 127 when the command does not exist, 126
 * when it cannot be executed, 125 otherwise. runc reports these only as text (Go's exec.LookPath
 * and execve errors), so this matches the texts podman matches (libpod/oci_util.go).
 *
 * @example
 * runtimeFailureStatus('exec: "nope": executable file not found in $PATH') // 127
 */
export function runtimeFailureStatus(message: string): 125 | 126 | 127 {
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  if (/permission denied|is a directory|exec format error/i.test(message)) return 126;
  return 125;
}

/**
 * Interprets how the foreground runtime ended, given what it logged.
 *
 * @example
 * runOutcome({ code: 3, signal: null }, '') // { kind: 'exited', status: 3 }
 */
export function runOutcome(exit: ProcessExit, logText: string): RunOutcome {
  if (exit.code === 0) return { kind: 'exited', status: 0 };
  const error = runtimeLogError(logText);
  if (error !== null) return { kind: 'runtime-error', status: runtimeFailureStatus(error), message: error };
  if (exit.code !== null) return { kind: 'exited', status: exit.code };
  // The runtime itself was killed (SIGKILL cannot be forwarded): report it as the shell does.
  return { kind: 'exited', status: 128 + signalNumber(exit.signal) };
}

/** The number of a signal name (0 when unknown). */
export function signalNumber(signal: string | null): number {
  return signal === null ? 0 : (constants.signals as Record<string, number>)[signal] ?? 0;
}
