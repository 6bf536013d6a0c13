/**
 * Runs the built CLI (`bin/shibafu.cjs`, the Node CLI; `bin/shibafu` with SHIBAFU_TEST_SERVICE=1) as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The Node CLI of this checkout, bin/shibafu.cjs (this file runs from dist/test/helpers/). */
export const SHIBAFU_BIN = fileURLToPath(new URL('../../../bin/shibafu.cjs', import.meta.url));
/** bin/shibafu, the command users run: the native front end, which may hand the command to a service. */
export const FRONT_END_BIN = fileURLToPath(new URL('../../../bin/shibafu', import.meta.url));
/**
 * SHIBAFU_TEST_SERVICE=1 (test/service-contract.test.ts): the CLI tests run through the front end,
 * against a service the container harness starts for each store.
 */
export const VIA_SERVICE = process.env.SHIBAFU_TEST_SERVICE === '1';

export interface CliResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Bytes for stdin (closed after), or a function that feeds the child's stdin itself. */
  readonly stdin?: Buffer | ((child: ChildProcess) => void);
  readonly env?: Record<string, string>;
}

/**
 * Spawns the CLI with ARGS and collects its output.
 *
 * @example
 * const r = await runCli(['--root', root, 'layer', 'list', '--json']);
 */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return collect(startCli(args, options));
}

/** Spawns the CLI without waiting (for tests that kill it or run two at once). */
export function startCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  const env = { ...process.env, ...options.env };
  // Tests read plain output: no debug stacks unless the caller asks for them.
  if (options.env?.SHIBAFU_DEBUG === undefined) delete env.SHIBAFU_DEBUG;
  const child = VIA_SERVICE
    ? spawn(FRONT_END_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'], env })
    : spawn(process.execPath, [SHIBAFU_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  // A child that exits before reading all of stdin must not crash the test with EPIPE.
  child.stdin?.on('error', () => {});
  const stdin = options.stdin;
  if (typeof stdin === 'function') stdin(child);
  else if (stdin !== undefined) child.stdin?.end(stdin);
  else child.stdin?.end();
  return child;
}

/** Waits for a spawned CLI and collects what it printed. */
export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}
