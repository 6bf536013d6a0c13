/**
 * An in-memory CliIo for calling the CLI's `main` in process: stdout and stderr are collected,
 * stdin is empty, and stdout says whether it is a terminal as the test asks.
 */
import { PassThrough } from 'node:stream';
import type { CliIo } from '../../src/cli/io.js';

export interface FakeIo {
  readonly io: CliIo;
  /** Everything written to stdout so far. */
  out(): Buffer;
  /** Everything written to stderr so far. */
  err(): string;
}

/**
 * @example
 * const pipe = fakeIo({ tty: false });
 * await main(['--root', root, 'layer', 'export', 'app'], pipe.io); pipe.out() // the tar
 */
export function fakeIo(options: { tty: boolean }): FakeIo {
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty });
  const stderr = new PassThrough();
  const o: Buffer[] = [];
  let e = '';
  stdout.on('data', (d: Buffer) => o.push(d));
  stderr.on('data', (d: Buffer) => { e += d.toString(); });
  return {
    io: { stdout, stderr, stdin: new PassThrough(), env: {}, cwd: '/', signal: new AbortController().signal },
    out: () => Buffer.concat(o),
    err: () => e,
  };
}
