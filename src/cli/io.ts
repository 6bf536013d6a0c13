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
  /** Aborted on SIGINT/SIGTERM: long work stops and cleans up. */
  readonly signal: AbortSignal;
}

/** Writes a line. */
export function println(stream: CliIo['stdout'], line = ''): void {
  stream.write(`${line}\n`);
}
