/**
 * Questions on the terminal (login's user name and password). A password is read with echo off,
 * which needs the terminal's raw mode; where stdin is no terminal the caller asks for
 * --password-stdin instead.
 */
import type { Readable } from 'node:stream';
import { ShibafuError } from '../index.js';
import type { CliIo } from './io.js';

type TtyIn = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

/** True when stdin is a terminal that can read a password without echoing it. */
export function canPrompt(io: CliIo): boolean {
  const stdin = io.stdin as TtyIn;
  return stdin.isTTY === true && typeof stdin.setRawMode === 'function';
}

/**
 * Asks on stderr and reads one line from the terminal; `hidden` turns echo off (raw mode, with
 * backspace handled); Ctrl-C or Ctrl-D gives up with an AbortError.
 *
 * @example
 * const user = await prompt(io, 'Username: ', { hidden: false });
 */
export async function prompt(io: CliIo, question: string, options: { hidden: boolean }): Promise<string> {
  const stdin = io.stdin as TtyIn;
  if (!canPrompt(io)) throw new ShibafuError('USAGE', 'Cannot ask for input: stdin is not a terminal');
  // Raw mode before the question shows: an answer typed right after it must not be echoed by
  // the terminal's line discipline.
  stdin.setRawMode?.(true);
  io.stderr.write(question);
  let line = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        const chars = [...chunk.toString('utf8')];
        for (const [i, ch] of chars.entries()) {
          if (ch === '\r' || ch === '\n') {
            // What was typed ahead belongs to the next question.
            const rest = chars.slice(i + 1).join('').replace(/^\n/, '');
            return done(() => {
              stdin.pause();
              if (rest !== '') stdin.unshift(Buffer.from(rest));
              resolve(line);
            });
          }
          if (ch === '\u0003' || ch === '\u0004') return done(() => reject(Object.assign(new Error('interrupted'), { name: 'AbortError' })));
          if (ch === '\u007f' || ch === '\b') {
            if (line.length > 0 && !options.hidden) io.stderr.write('\b \b');
            line = [...line].slice(0, -1).join('');
          } else {
            line += ch;
            if (!options.hidden) io.stderr.write(ch);
          }
        }
      };
      const onAbort = (): void => done(() => reject(Object.assign(new Error('interrupted'), { name: 'AbortError' })));
      const done = (settle: () => void): void => {
        stdin.off('data', onData);
        io.signal.removeEventListener('abort', onAbort);
        settle();
      };
      io.signal.addEventListener('abort', onAbort, { once: true });
      stdin.on('data', onData);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode?.(false);
    stdin.pause();
    io.stderr.write('\n');
  }
}

/**
 * All of stdin as text, without its final newline (`echo $PASS | shibafu login --password-stdin`).
 *
 * @example
 * const password = await readStdinLine(io);
 */
export async function readStdinLine(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of io.stdin as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
