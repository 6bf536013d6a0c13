/**
 * Process entry: wires the real process into `main` (the only place that reads process.*).
 */
import * as fs from 'node:fs';
import { main } from './main.js';
import type { CliIo } from './io.js';

const controller = new AbortController();
let interrupts = 0;
/** Handlers of a running `run` (signals forwarded to the container), newest last. */
const traps = new Map<NodeJS.Signals, ((sig: NodeJS.Signals) => void)[]>();

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (traps.get(sig)?.length) return;
    // The first signal asks long work to stop and clean up; a second one leaves at once.
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  });
}

const trapSignals: NonNullable<CliIo['trapSignals']> = (signals, handler) => {
  const listeners = signals.map((sig) => {
    const list = traps.get(sig) ?? [];
    traps.set(sig, [...list, handler]);
    // Listening replaces the default action (death) of SIGHUP, SIGQUIT, SIGUSR1/2 while trapped.
    const listener = (): void => { if (traps.get(sig)?.at(-1) === handler) handler(sig); };
    process.on(sig, listener);
    return { sig, listener };
  });
  return () => {
    for (const { sig, listener } of listeners) {
      process.off(sig, listener);
      traps.set(sig, (traps.get(sig) ?? []).filter((h) => h !== handler));
    }
  };
};

/**
 * A reader that goes away (`shibafu layer list | head -1`) is not an error of ours: like a tool
 * killed by SIGPIPE, shibafu stops (long work cleans up, as on Ctrl-C) and exits with 141
 * (128 + SIGPIPE), without a stack trace. Node ignores SIGPIPE, so the write fails with EPIPE.
 */
let brokenPipe = false;
const guarded = new WeakSet<NodeJS.WriteStream>();
function guardPipe(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  if (!guarded.has(stream)) {
    guarded.add(stream);
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && !brokenPipe) throw err;
      onBrokenPipe();
    });
  }
  return stream;
}

function onBrokenPipe(): void {
  brokenPipe = true;
  // The failed write may be reported after main() has returned its status.
  process.exitCode = 141;
  controller.abort();
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Text to fd 1 by write(2) itself (io.print): printing commands never make process.stdout, whose
 * stream modules are ~4 ms of a `layer list`. A reader that went away ends the command as above;
 * a stdout some other program made non-blocking (EAGAIN) is waited on, a millisecond at a time.
 */
function printToFd(text: string): void {
  if (brokenPipe) return;
  const bytes = Buffer.from(text);
  for (let off = 0; off < bytes.length;) {
    try {
      off += fs.writeSync(1, bytes, off, bytes.length - off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      if (code !== 'EPIPE') throw err;
      onBrokenPipe();
      return;
    }
  }
}

// The std streams are made on first use: a command that hands fds 0-2 to a child (run) never
// creates them, so Node never switches those shared descriptors to non-blocking mode under it.
const io: CliIo = {
  get stdout() { return guardPipe(process.stdout); },
  get stderr() { return guardPipe(process.stderr); },
  get stdin() { return process.stdin; },
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
  trapSignals,
  stdioFds: [0, 1, 2],
  selfCommand: [process.execPath, ...process.execArgv, process.argv[1] as string],
  print: printToFd,
};

// No top-level await: the CLI bundle is CommonJS (scripts/bundle.mjs).
void main(process.argv.slice(2), io).then((status) => {
  process.exitCode = brokenPipe ? 141 : status;
});
