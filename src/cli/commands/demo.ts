import type { Command, CommandEnv, Parsed } from '../command.js';
import { flag, int, str } from '../command.js';
import { print, type CliIo } from '../io.js';
import { printJson } from '../render.js';
import { DEFAULT_COW_SIZE, runCowDemo } from '../../demo/cow-demo.js';
import { SILENT_OUTPUT, type DemoDirs, type DemoOutput } from '../../demo/demo-output.js';
import { runOverlayDemo } from '../../demo/overlay-demo.js';
import { DEFAULT_ROOT } from '../../index.js';

const COMMON_DETAILS = [
  '  --root DIR   work in this store (the demo\'s layers get unique names and are removed after);',
  '               by default the demo makes a throw-away store in a temp dir ($TMPDIR, else /tmp)',
  '  --step       pause after each step (Enter goes on) so you can look at the dirs yourself',
  '  --keep       leave the mount, layers and temp dir in place at the end, and print how to remove',
  '               them; after an error or Ctrl-C everything is removed anyway',
  '  --json       print the steps, upper-dir listings and timings as JSON instead of prose',
];

/**
 * The store the user named with --root. SHIBAFU_ROOT does not count: a demo must not fill the
 * user's everyday store unless asked to. (`env.root` folds the three sources together, so a global
 * `--root` before the command words is told apart by comparing with what it would otherwise be.)
 */
function explicitRoot(env: CommandEnv, parsed: Parsed): string | null {
  const given = str(parsed, 'root');
  if (given !== undefined) return given;
  return env.root !== (env.io.env.SHIBAFU_ROOT ?? DEFAULT_ROOT) ? env.root : null;
}

/** Waits for a line on stdin; gives up (rejecting) when `signal` aborts, and goes on at EOF. */
function waitForEnter(io: CliIo, signal: AbortSignal): Promise<void> {
  if (io.stdin.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const finish = (settle: () => void): void => {
      io.stdin.off('data', onData);
      io.stdin.off('end', onEnd);
      signal.removeEventListener('abort', onAbort);
      // Paused again, so a finished demo does not keep the process alive waiting on stdin.
      io.stdin.pause();
      settle();
    };
    const onData = (chunk: Buffer | string): void => { if (String(chunk).includes('\n')) finish(resolve); };
    const onEnd = (): void => finish(resolve);
    const onAbort = (): void => finish(() => { io.stderr.write('\n'); reject(signal.reason); });
    io.stdin.on('data', onData);
    io.stdin.on('end', onEnd);
    signal.addEventListener('abort', onAbort, { once: true });
    io.stdin.resume();
  });
}

/** The port the demos report through: prose on stdout (none with --json), pauses with --step. */
function cliOutput(env: CommandEnv, parsed: Parsed): DemoOutput {
  const io = env.io;
  const warn = (line: string): void => { io.stderr.write(`shibafu: ${line}\n`); };
  const base: DemoOutput = env.json ? { ...SILENT_OUTPUT, warn } : { say: (line) => { print(io, `${line}\n`); }, warn };
  if (!flag(parsed, 'step')) return base;
  return {
    ...base,
    async afterStep(_step, dirs: DemoDirs, signal) {
      const look = dirs.upper ?? dirs.merged;
      io.stderr.write(`\n  paused; look for yourself, e.g.  ls -la ${look}\n  Enter: next step   Ctrl-C: stop and clean up `);
      await waitForEnter(io, signal);
    },
  };
}

function sandboxOptions(env: CommandEnv, parsed: Parsed): { tmpDir: string; root: string | null; keep: boolean; signal: AbortSignal } {
  return { tmpDir: env.io.env.TMPDIR ?? '/tmp', root: explicitRoot(env, parsed), keep: flag(parsed, 'keep'), signal: env.io.signal };
}

const DEMO_OPTIONS = { keep: { type: 'boolean' }, step: { type: 'boolean' } } as const;

export const demoOverlay: Command = {
  name: 'demo overlay',
  summary: 'Watch OverlayFS work: layer priority, the four dirs, copy-up, whiteouts, opaque dirs',
  usage: '[--root DIR] [--step] [--keep] [--json]',
  details: COMMON_DETAILS.join('\n'),
  examples: ['shibafu demo overlay', 'shibafu demo overlay --step', 'shibafu demo overlay --json | jq \'.steps[] | {id, upper}\''],
  options: DEMO_OPTIONS,
  args: { min: 0, max: 0 },
  async run(env, parsed) {
    const result = await runOverlayDemo({ ...sandboxOptions(env, parsed), out: cliOutput(env, parsed) });
    if (env.json) printJson(env.io, result);
    return 0;
  },
};

export const demoCow: Command = {
  name: 'demo cow',
  summary: 'Watch copy-on-write cost: a big lower file copied up whole for a one-byte append',
  usage: '[--size SIZE] [--root DIR] [--step] [--keep] [--json]',
  details: ['  --size SIZE  size of the file in the lower layer (default 50M; suffixes k, M, G are binary)', ...COMMON_DETAILS].join('\n'),
  examples: ['shibafu demo cow', 'shibafu demo cow --size 500M', 'shibafu demo cow --json | jq .timings'],
  options: { ...DEMO_OPTIONS, size: { type: 'string' } },
  args: { min: 0, max: 0 },
  async run(env, parsed) {
    const size = int(parsed, 'size') ?? DEFAULT_COW_SIZE;
    const result = await runCowDemo({ ...sandboxOptions(env, parsed), size, out: cliOutput(env, parsed) });
    if (env.json) printJson(env.io, result);
    return 0;
  },
};
