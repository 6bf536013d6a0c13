/**
 * What the CLI gets from the process, passed in so tests can call `main` directly (STYLE.md: the
 * library never reads process.env, argv or cwd; the CLI receives them).
 */
import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean; columns?: number };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly stdin: Readable;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Aborted on SIGINT/SIGTERM: long work stops and cleans up (unless a trap takes the signal). */
  readonly signal: AbortSignal;
  /**
   * Takes `signals` away from the default handling (abort, or the process's death) and gives each
   * one to `handler` until the returned function is called: `run` forwards them to the container.
   * Absent in tests that call `main` directly.
   */
  readonly trapSignals?: (signals: readonly NodeJS.Signals[], handler: (sig: NodeJS.Signals) => void) => () => void;
  /**
   * The process's own descriptors 0, 1, 2, for commands that hand them to a child as they are (the
   * container runtime: its pty finds the terminal there). Absent in tests that call `main`
   * directly: the child's output then goes through `stdout` and `stderr`.
   */
  readonly stdioFds?: readonly [number, number, number];
  /** How to run this CLI again (node and the entry script), for a detached container's cleanup. */
  readonly selfCommand?: readonly string[];
  /**
   * Writes text to standard output at once, without the `stdout` stream: the process entry writes
   * to fd 1 itself, so a command that only prints text never makes process.stdout, whose stream
   * modules cost ~4 ms to load. Absent in tests that call `main` directly: `stdout` is used.
   */
  readonly print?: (text: string) => void;
}

/**
 * Writes `text` to standard output: through `io.print` where the process gave one, else through
 * the `stdout` stream. Streams of bytes (an exported archive, followed logs) use `stdout`.
 *
 * @example
 * print(env.io, `${table(rows)}\n`);
 */
export function print(io: CliIo, text: string): void {
  if (io.print !== undefined) io.print(text);
  else io.stdout.write(text);
}
