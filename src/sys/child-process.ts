/**
 * Child processes (STYLE.md: only sys/ imports node:child_process). Two shapes: a long-lived
 * child whose stdio is handed over (the container runtime in the foreground), and a short tool
 * call whose output is captured (`runc state`, `runc kill`).
 */
import type { StdioOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { ShibafuError } from '../errors.js';
import { posixSpawn, type NativeStdio } from './posix-spawn.js';

/** How a process ended: an exit code, or the signal that killed it. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ChildHandle {
  readonly pid: number;
  /** Resolves once the process has exited and its stdio closed. */
  readonly exited: Promise<ProcessExit>;
  /** Sends a signal; false when the process is already gone. */
  signal(sig: NodeJS.Signals): boolean;
  /** Lets this process exit without waiting for the child. */
  unref(): void;
  /** The child's ends of the stdio entries given as 'pipe'; null for the others. */
  readonly stdin: NodeJS.WritableStream | null;
  readonly stdout: NodeJS.ReadableStream | null;
  readonly stderr: NodeJS.ReadableStream | null;
}

export interface SpawnOptions {
  /** Per-fd: an fd number to hand over, 'ignore' (/dev/null), 'pipe', or 'inherit'. */
  readonly stdio: StdioOptions;
  /** A new session (setsid): terminal-generated signals no longer reach the child directly. */
  readonly newSession?: boolean;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts a process. Rejects (ShibafuError RUNTIME_NOT_FOUND for ENOENT) when it cannot start.
 *
 * @example
 * const child = await spawnChild('runc', ['run', id], { stdio: [0, 1, 2], newSession: true });
 * const { code } = await child.exited;
 */
export function spawnChild(file: string, args: readonly string[], options: SpawnOptions): Promise<ChildHandle> {
  const handedOver = nativeStdio(options);
  if (handedOver !== undefined) return spawnNative(file, args, handedOver, options);
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn(file, args, {
      stdio: options.stdio,
      detached: options.newSession === true,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
    });
    const exited = new Promise<ProcessExit>((done) => child.once('close', (code, signal) => done({ code, signal })));
    child.once('error', (err) => reject(spawnError(file, err)));
    child.once('spawn', () => resolve({
      pid: child.pid as number,
      exited,
      signal: (sig) => child.exitCode === null && child.signalCode === null && child.kill(sig),
      unref: () => child.unref(),
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
    }));
  });
}

/**
 * The stdio of a child that only gets fds handed over (no pipes, no extra fds, no cwd): the
 * foreground runtime of `run`. posix_spawn serves those (sys/posix-spawn.ts says why).
 */
function nativeStdio(options: SpawnOptions): [NativeStdio, NativeStdio, NativeStdio] | undefined {
  const { stdio } = options;
  if (!Array.isArray(stdio) || stdio.length !== 3 || options.cwd !== undefined) return undefined;
  const ok = (s: unknown): s is NativeStdio => typeof s === 'number' || s === 'ignore';
  const [a, b, c] = stdio as unknown[];
  return ok(a) && ok(b) && ok(c) ? [a, b, c] : undefined;
}

async function spawnNative(file: string, args: readonly string[], stdio: [NativeStdio, NativeStdio, NativeStdio], options: SpawnOptions): Promise<ChildHandle> {
  const env = Object.entries(options.env ?? process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  let child;
  try {
    child = posixSpawn(file, args, { stdio, newSession: options.newSession === true, env });
  } catch (err) {
    throw spawnError(file, err as Error);
  }
  return {
    pid: child.pid,
    exited: child.exited,
    signal: (sig) => child.signal(sig),
    // The wait runs on a worker thread, which holds the event loop until the child is gone; only
    // background children (the monitor of `start -d`, which gets an extra fd) are let go.
    unref: () => { throw new Error('a child spawned with posix_spawn cannot be unref()ed'); },
    stdin: null,
    stdout: null,
    stderr: null,
  };
}

let loadedChildProcess: typeof import('node:child_process') | undefined;

/** node:child_process on first use: it loads node:net, node:dgram and the stream classes. */
function childProcess(): typeof import('node:child_process') {
  loadedChildProcess ??= createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  return loadedChildProcess;
}

export interface CapturedRun extends ProcessExit {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a tool to completion and captures its output (bounded: 1 MiB each).
 *
 * @example
 * const r = await runCaptured('runc', ['--root', dir, 'state', id]);
 */
export async function runCaptured(file: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<CapturedRun> {
  const child = await spawnChild(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.signal('SIGKILL'), options.timeoutMs);
  try {
    const exit = await child.exited;
    return { ...exit, stdout: await out, stderr: await err };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

const CAPTURE_LIMIT = 1 << 20;

async function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (stream === null) return '';
  let text = '';
  for await (const chunk of stream) {
    if (text.length < CAPTURE_LIMIT) text += String(chunk);
  }
  return text;
}

function spawnError(file: string, err: Error): ShibafuError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'EACCES') {
    return new ShibafuError('RUNTIME_NOT_FOUND', `Cannot run "${file}": ${code === 'ENOENT' ? 'no such program' : 'permission denied'}`, {
      hint: 'Install it (runc: apt-get install runc), or name another OCI runtime with --runtime PATH.', cause: err,
    });
  }
  return new ShibafuError('IO_ERROR', `Cannot run "${file}": ${code ?? err.message}`, { cause: err });
}

/**
 * Signals every process of the session/process group led by `pid` (a child spawned with
 * `newSession`: setsid makes its pid the group id), so a stuck grandchild dies with its parent.
 * False when the group is gone.
 *
 * @example
 * signalSession(monitor.pid, 'SIGKILL');
 */
export function signalSession(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process exists (kill(pid, 0)); EPERM counts as alive. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
