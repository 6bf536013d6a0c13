/**
 * Process entry: wires the real process into `main` (the only place that reads process.*).
 */
import { main } from './main.js';

const controller = new AbortController();
let interrupts = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // The first signal asks long work to stop and clean up; a second one leaves at once.
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  });
}

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
});
