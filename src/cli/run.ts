/**
 * Process entry: wires the real process into `main` (the only place that reads process.*).
 */
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

// The std streams are made on first use: a command that hands fds 0-2 to a child (run) never
// creates them, so Node never switches those shared descriptors to non-blocking mode under it.
const io: CliIo = {
  get stdout() { return process.stdout; },
  get stderr() { return process.stderr; },
  get stdin() { return process.stdin; },
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
  trapSignals,
  stdioFds: [0, 1, 2],
  selfCommand: [process.execPath, ...process.execArgv, process.argv[1] as string],
};

process.exitCode = await main(process.argv.slice(2), io);
