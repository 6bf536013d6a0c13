/**
 * The CliIo of a command the service runs for a client: the client's descriptors, working
 * directory and environment instead of the service's own, and the client's signals (sent as
 * bytes) handled as the CLI's own process handles its signals (src/cli/run.ts): taken by `run`
 * while it forwards them to the container, else the first INT/TERM aborts long work and a
 * second one ends the command at once with 130; HUP, QUIT, USR1 and USR2, which would kill the
 * CLI's process, end it with 128+N.
 */
import * as fs from 'node:fs';
import { constants } from 'node:os';
import { Writable } from 'node:stream';
import { isatty } from 'node:tty';
import type { CommandCall } from '../service/service-listener.js';
import type { CliIo } from './io.js';

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/**
 * Output is written asynchronously (the thread pool's write(2)), never with a blocking write on
 * the service's one thread: a client whose reader does not read (`shibafu layer list | less`)
 * must not stall every other command. `finish` waits for what is queued before the answer.
 *
 * @example
 * const { io, finish } = serviceIo(call, selfCommand);
 * return finish(await main(call.argv, io));
 */
export function serviceIo(call: CommandCall, selfCommand: readonly string[]): { io: CliIo; finish: (served: number) => Promise<number> } {
  const [fd0, fd1, fd2] = call.fds;
  const controller = new AbortController();
  let brokenPipe = false;
  let interrupts = 0;
  const traps = new Map<NodeJS.Signals, ((sig: NodeJS.Signals) => void)[]>();
  const onBrokenPipe = (): void => {
    brokenPipe = true;
    controller.abort();
  };
  const stdout = fdWriter(fd1, onBrokenPipe);
  const stderr = fdWriter(fd2, onBrokenPipe);
  const trapped = (sig: NodeJS.Signals): ((sig: NodeJS.Signals) => void) | undefined => traps.get(sig)?.at(-1);

  call.onSignal((signo) => {
    const sig = SIGNAL_NAMES.get(signo);
    if (sig === undefined) return;
    const handler = trapped(sig);
    if (handler !== undefined) handler(sig);
    else if (sig === 'SIGINT' || sig === 'SIGTERM') {
      if (++interrupts > 1) call.answerEarly(130);
      controller.abort();
    } else if (sig !== 'SIGWINCH') {
      call.answerEarly(128 + signo);
      controller.abort();
    }
  });
  // A client that went away without a signal was killed (a closed terminal sends SIGHUP first).
  // As when `podman run` is killed, an attached container goes on; the service still waits for
  // it, records its end and removes it (--rm). Other work stops as on Ctrl-C.
  call.onHangup(() => {
    if (trapped('SIGINT') === undefined) controller.abort();
  });

  let stdin: fs.ReadStream | undefined;
  const io: CliIo = {
    stdout,
    stderr,
    get stdin() {
      stdin ??= fs.createReadStream('', { fd: fd0, autoClose: false });
      return stdin;
    },
    env: call.env,
    cwd: call.cwd,
    signal: controller.signal,
    trapSignals: (signals, handler) => {
      for (const sig of signals) traps.set(sig, [...(traps.get(sig) ?? []), handler]);
      return () => {
        for (const sig of signals) traps.set(sig, (traps.get(sig) ?? []).filter((h) => h !== handler));
      };
    },
    stdioFds: [fd0, fd1, fd2],
    selfCommand,
    print: (text) => { stdout.write(text); },
  };
  const finish = async (served: number): Promise<number> => {
    await Promise.all([stdout, stderr].map((w) => new Promise<void>((resolve) => w.end(resolve))));
    return brokenPipe ? 141 : served;
  };
  return { io, finish };
}

/**
 * A stream over one of the client's descriptors. A reader that went away (EPIPE) is reported
 * once and the rest dropped; a descriptor some program made non-blocking (EAGAIN) is retried.
 */
function fdWriter(fd: number, onBrokenPipe: () => void): Writable & { isTTY: boolean } {
  let broken = false;
  const writeAll = (chunk: Buffer, done: () => void): void => {
    if (broken || chunk.length === 0) {
      done();
      return;
    }
    fs.write(fd, chunk, 0, chunk.length, null, (err, written) => {
      if (err === null) writeAll(chunk.subarray(written), done);
      else if (err.code === 'EAGAIN') setTimeout(() => writeAll(chunk, done), 1);
      else {
        // EPIPE, or a descriptor that cannot be written: the command ends as on SIGPIPE.
        broken = true;
        onBrokenPipe();
        done();
      }
    });
  };
  const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => writeAll(chunk, () => done()) }) as Writable & { isTTY: boolean };
  stream.isTTY = isatty(fd);
  return stream;
}
